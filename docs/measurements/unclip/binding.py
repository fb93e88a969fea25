"""Does the CLIP image embedding carry colour binding? Tuning range (held-out scenes 50,000+), two-object scenes of
two colours and two shapes: the source, its colours swapped, its objects' places swapped, and another scene of its caption.

    .venv/bin/python docs/measurements/unclip/binding.py [N]
"""
import dataclasses, sys
import numpy as np, torch
import difflab.data.shapes as S
from difflab.data.shapes.scenes import scene_for
from difflab.pipelines.unclip import UnCLIPPipeline
torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
src, swp, twin, pos = [], [], [], []
i = 50_000
rng = np.random.default_rng(0)
while len(src) < n:
    sc = S.make_scene(S.EVAL_SEED, i); i += 1
    if len(sc.objects) != 2 or sc.objects[0].colour == sc.objects[1].colour or sc.objects[0].shape == sc.objects[1].shape:
        continue
    a, b = sc.objects
    swapped = dataclasses.replace(sc, objects=(dataclasses.replace(a, colour=b.colour), dataclasses.replace(b, colour=a.colour)))
    # the same objects at each other's places (binding kept, layout changed)
    moved = dataclasses.replace(sc, objects=(dataclasses.replace(a, cx=b.cx, cy=b.cy), dataclasses.replace(b, cx=a.cx, cy=a.cy)))
    src.append(sc); swp.append(swapped); pos.append(moved)
    twin.append(scene_for(sc.stated, rng))
enc = lambda scenes: pipe.clip.encode_image(S.to_tensor(np.stack([S.render(s, 64) for s in scenes])))
z, zs, zt, zp = enc(src), enc(swp), enc(twin), enc(pos)
cos = lambda a, b: (a * b).sum(1)
print(f"n {n}: cos(source, colours swapped) {cos(z, zs).mean():.3f}; cos(source, objects' places swapped) {cos(z, zp).mean():.3f}; "
      f"cos(source, another scene of its caption) {cos(z, zt).mean():.3f}")
print(f"share where the colour-swapped image is closer than the place-swapped one: {(cos(z, zs) > cos(z, zp)).float().mean():.3f}")
t = pipe.clip.encode_text([s.caption for s in src])
print(f"text binding: caption closer to source than to its colour swap: {(cos(t, z) > cos(t, zs)).float().mean():.3f}")
# nearest neighbour among {source, swap}: does the embedding of a fresh image of the caption sit nearer the source than the swap?
print(f"another scene of the caption closer to the source than to the swap: {(cos(zt, z) > cos(zt, zs)).float().mean():.3f}")

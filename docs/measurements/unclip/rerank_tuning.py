"""Tuning range (held-out scenes 50,000 on, never reported): variations chosen by CLIP reranking.
Each source gets K candidate variations (seeds); best-of-k keeps, in each group of k candidates, the one whose
re-encoded embedding is nearest the source's (cosine). Prints the share of kept objects for k = 1, 2, 4, 8 (groups
of consecutive seeds), and for comparison the share if the pick were by the judge (an upper bound).

    .venv/bin/python docs/measurements/unclip/rerank_tuning.py N K [GUIDANCE]
"""
import sys, time
import numpy as np, torch
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.unclip import held_out_scenes, TUNING_START, _objects
from difflab.metrics.shapes_judge import judge
from difflab.data.shapes import to_uint8

torch.set_num_threads(1)
pipe = UnCLIPPipeline.shipped()
n, K = int(sys.argv[1]), int(sys.argv[2])
settings = {"guidance": float(sys.argv[3])} if len(sys.argv) > 3 else {}
scenes, images = held_out_scenes(n, TUNING_START, size=pipe.config["image_size"])
objects = [_objects(s) for s in scenes]
source = to_uint8(images)
t0 = time.time()
kept = np.zeros((n, K), bool); cos = np.zeros((n, K)); nobj = np.array([len(s.objects) for s in scenes])
for i in range(n):
    v = pipe.variations(source[i], K, candidates=1, seed=i * K, **settings)
    z = pipe.clip.encode_image(list(v)); zs = pipe.clip.encode_image([source[i]])
    cos[i] = (z @ zs[0]).cpu().numpy()
    kept[i] = [judge(im, objects[i])["all"] for im in v]
print(f"{n} sources x {K}, {time.time() - t0:.0f} s, settings {settings}")
for k in (1, 2, 4, 8):
    if K % k:
        continue
    g = K // k
    pick = cos.reshape(n, g, k).argmax(2)
    chosen = np.take_along_axis(kept.reshape(n, g, k), pick[..., None], 2)[..., 0]
    oracle = kept.reshape(n, g, k).any(2)
    by = {c: round(float(chosen[nobj == c].mean()), 3) for c in (1, 2, 3) if (nobj == c).any()}
    print(f"best of {k}: kept {chosen.mean():.3f} (by objects {by}); any kept {oracle.mean():.3f}")
print("corr(cos, kept) per source, mean:", round(float(np.nanmean([np.corrcoef(cos[i], kept[i])[0, 1] for i in range(n)
                                                                    if kept[i].std() > 0])), 3))

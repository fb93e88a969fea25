"""Tuning range (held-out scenes 50,000 on): how large are the dips that make unCLIP interpolations non-monotone?"""
import json, numpy as np, torch
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.unclip import held_out_scenes, TUNING_START
from difflab.data.shapes import to_uint8
torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
pairs, frames = 20, 8
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 1000, size=pipe.config["image_size"])
source = to_uint8(images)
out = []
for k in range(pairs):
    a, b = source[2 * k], source[2 * k + 1]
    imgs, path = pipe.interpolate(a, b, frames, seed=k, candidates=1, pacing=1)
    ends = pipe.clip.encode_image([a, b])
    z = pipe.clip.encode_image(list(imgs))
    m = (z @ ends[1] - z @ ends[0]).cpu().numpy()
    pm = (path @ ends[1] - path @ ends[0]).cpu().numpy()
    # re-encoding noise: the same frame decoded with another seed
    d = np.diff(m)
    out.append({"margin": m.round(3).tolist(), "path": pm.round(3).tolist(), "worst_dip": float(-d.min()), "span": float(m[-1] - m[0]),
                "dips": int((d < 0).sum())})
    print(k, "worst dip %.3f span %.3f dips %d" % (out[-1]["worst_dip"], out[-1]["span"], out[-1]["dips"]), flush=True)
dips = np.array([o["worst_dip"] for o in out]); spans = np.array([o["span"] for o in out])
print("monotone", float((dips <= 0).mean()), "median worst dip", float(np.median(dips)), "median span", float(np.median(spans)),
      "worst dip / span median", float(np.median(dips / spans)))
json.dump(out, open("interpolation_dips.json", "w"), indent=1)

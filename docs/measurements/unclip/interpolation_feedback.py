"""Tuning range (pairs of held-out scenes from 51,000, never reported): interpolation with embedding feedback.
Each frame's conditioning embedding is corrected K times by what the CLIP encoder reads back from the frame,
z <- normalise(z + (z_path - f(decode(z)))), all frames from the same noise; monotone share as in eval-unclip.

    .venv/bin/python docs/measurements/unclip/interpolation_feedback.py K
"""
import json, sys, time
import numpy as np, torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from difflab.pipelines.unclip import UnCLIPPipeline, slerp
from difflab.evaluate.unclip import held_out_scenes, TUNING_START
from difflab.data.shapes import to_uint8

torch.set_num_threads(1)
pipe = UnCLIPPipeline.shipped()
pairs, frames, K = 20, 8, int(sys.argv[1])
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 1000, size=pipe.config["image_size"])
source = to_uint8(images)
t0 = time.time(); mono = {k: [] for k in range(K + 1)}; rho = {k: [] for k in range(K + 1)}
for p in range(pairs):
    a, b = source[2 * p], source[2 * p + 1]
    ends = pipe.clip.encode_image([a, b])
    path = torch.cat([slerp(ends[:1], ends[1:], t / (frames - 1)) for t in range(frames)])
    z = path.clone()
    for k in range(K + 1):
        imgs = pipe._decode_path(z, p, "uint8", {})
        e = pipe.clip.encode_image(list(imgs))
        m = (e @ ends[1] - e @ ends[0]).cpu().numpy()
        mono[k].append(bool((np.diff(m) >= 0).all())); rho[k].append(float(spearmanr(np.arange(frames), m).correlation))
        z = F.normalize(z + (path - e), dim=-1)
for k in range(K + 1):
    print(json.dumps({"corrections": k, "monotone": float(np.mean(mono[k])), "spearman": round(float(np.mean(rho[k])), 3)}))
print(f"{time.time() - t0:.0f} s")

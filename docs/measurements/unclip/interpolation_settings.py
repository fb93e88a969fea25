"""Tuning range (held-out scenes 51,000 on, never reported): interpolation monotonicity by decoder setting.
For each setting (JSON list of interpolate() settings), 20 pairs x 8 frames from the same noise per pair: the share of
pairs whose re-encoded margin cos(frame, B) - cos(frame, A) never falls, the mean Spearman of margin and frame index,
and the share whose worst dip is at most 2% of the margin's span (the encoder's jitter).

    .venv/bin/python docs/measurements/unclip/interpolation_settings.py '[{"guidance": 1}, {}]'
"""
import json, sys, time
import numpy as np, torch
from scipy.stats import spearmanr
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.unclip import held_out_scenes, TUNING_START
from difflab.data.shapes import to_uint8

torch.set_num_threads(1)
pipe = UnCLIPPipeline.shipped()
pairs, frames = 20, 8
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 1000, size=pipe.config["image_size"])
source = to_uint8(images)
for cfg in json.loads(sys.argv[1]):
    t0 = time.time(); mono, near, rho = [], [], []
    for k in range(pairs):
        a, b = source[2 * k], source[2 * k + 1]
        imgs, _ = pipe.interpolate(a, b, frames, seed=k, candidates=1, pacing=1, **cfg)
        ends = pipe.clip.encode_image([a, b])
        z = pipe.clip.encode_image(list(imgs))
        m = (z @ ends[1] - z @ ends[0]).cpu().numpy()
        d = np.diff(m)
        mono.append(bool((d >= 0).all())); near.append(bool(-d.min() <= 0.02 * max(m[-1] - m[0], 1e-9)))
        rho.append(float(spearmanr(np.arange(frames), m).correlation))
    print(json.dumps({"cfg": cfg, "monotone": np.mean(mono), "within_2pct": np.mean(near),
                      "spearman": round(float(np.mean(rho)), 3), "s": round(time.time() - t0)}), flush=True)

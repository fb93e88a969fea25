"""Issue 19, session 36, tuning range only (pairs from TUNING_START + 100, as partial_s34/noise_choice.py): each
pair's interpolation path (the shipped pipeline's defaults: the noise chosen by its ends among 4) decoded at
7 R + 1 even points of t, re-encoded as uint8 images; the margins cos(e, z_b) - cos(e, z_a) of every point are
written per pair (resumable), and the frames that pacing r (every R/r-th point, paced_frames), r dividing R, would
show are scored offline as evaluate_interpolation scores them (monotone: the shown frames' margins never fall):

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/pacing_s36/tune.py PAIRS R OUT.json
(session 36: PAIRS 10, R 2; a decoding of 29 points took over 6 minutes a pair beside another job)
"""
import json
import sys
import time

import numpy as np
import torch

from difflab.data.shapes import to_uint8
from difflab.evaluate.unclip import TUNING_START, held_out_scenes
from difflab.pipelines.unclip import UnCLIPPipeline, paced_frames

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
pairs, top, out_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
try:
    rows = json.load(open(out_path))
except FileNotFoundError:
    rows = []
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 100, size=pipe.config["image_size"])
source = to_uint8(images)
t0 = time.time()
for k in range(len(rows), pairs):
    a, b = source[2 * k], source[2 * k + 1]
    ends = pipe.clip.encode_image([a, b])
    out, _ = pipe.interpolate(a, b, 7 * top + 1, seed=k, pacing=1)  # the default noise choice: same ends as 8 frames
    z = pipe.clip.encode_image(list(out))
    rows.append({"pair": k, "margin": (z @ ends[1] - z @ ends[0]).tolist(),
                 "ends": [float(z[0] @ ends[0]), float(z[-1] @ ends[1])]})
    with open(out_path, "w") as f:
        json.dump(rows, f)
    print(k, round(time.time() - t0), flush=True)

for r in [r for r in range(1, top + 1) if top % r == 0]:
    mono, feasible, shift = [], [], []
    for row in rows:
        m = np.array(row["margin"])[:: top // r]
        keep = paced_frames(m, 8) if r > 1 else None
        feasible.append(keep is not None)
        keep = keep or list(range(0, len(m), r))
        mono.append(bool((np.diff(m[keep]) >= 0).all()))
        shift.append(np.abs(np.array(keep) / r - np.arange(8)).max())  # in frame steps
    print(json.dumps({"pacing": r, "pairs": len(rows), "monotone": round(float(np.mean(mono)), 3),
                      "paced": round(float(np.mean(feasible)), 3), "largest_shift_mean": round(float(np.mean(shift)), 3)}))

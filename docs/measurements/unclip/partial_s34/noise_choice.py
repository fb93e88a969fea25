"""Issue 19, session 34, tuning range only (60 pairs from TUNING_START + 100, as guidance_s32/interpolation.py):
every pair's interpolation (the shipped pipeline's defaults, one noise for all 8 frames) decoded from K noises,
candidate c from seed ``k + c * CANDIDATE_STRIDE`` (c = 0: the default path's noise). Writes, per pair and
candidate, the frames' margins cos(frame, B) - cos(frame, A), the end frames' cosines to their sources and every
frame's cosine to its path point, so that rules for choosing the noise can be compared offline:

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/partial_s34/noise_choice.py PAIRS K OUT.json
"""
import json
import sys
import time

import torch

from difflab.data.shapes import to_uint8
from difflab.evaluate.unclip import TUNING_START, held_out_scenes
from difflab.pipelines.unclip import CANDIDATE_STRIDE, UnCLIPPipeline

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
pairs, k_max, out_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 100, size=pipe.config["image_size"])
source = to_uint8(images)
rows, t0 = [], time.time()
for k in range(pairs):
    a, b = source[2 * k], source[2 * k + 1]
    ends = pipe.clip.encode_image([a, b])
    row = {"pair": k, "objects": [len(scenes[2 * k].objects), len(scenes[2 * k + 1].objects)], "candidates": []}
    for c in range(k_max):
        out, path = pipe.interpolate(a, b, 8, seed=k + c * CANDIDATE_STRIDE, candidates=1, pacing=1)
        z = pipe.clip.encode_image(list(out))
        row["candidates"].append({"margin": (z @ ends[1] - z @ ends[0]).tolist(),
                                  "ends": [float(z[0] @ ends[0]), float(z[-1] @ ends[1])],
                                  "path": (z * path).sum(-1).tolist()})
    rows.append(row)
    print(k, round(time.time() - t0), flush=True)
with open(out_path, "w") as f:
    json.dump(rows, f)

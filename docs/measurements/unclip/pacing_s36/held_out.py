"""Issue 19, session 36, run once after the tuning range (tune.py): the interpolation report (evaluate_interpolation,
eval-unclip's 20 held-out pairs and seeds) with paced frames (pacing 2, the new default), the shipped pipeline, from
random noise and from the inverted noises. The same report with pacing 1 is session 34's (partial_s34/held_out.py,
the candidates = 4 row) and session 33's inverted row (code unchanged).

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/pacing_s36/held_out.py
"""
import json
import time

import torch

from difflab.evaluate.unclip import evaluate_interpolation
from difflab.pipelines.unclip import UnCLIPPipeline

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
for invert in (False, True):
    t0 = time.time()
    r = evaluate_interpolation(pipe, 20, 8, invert=invert, pacing=2)
    print(json.dumps({"pacing": 2, "invert": invert, **{k: round(r[k], 3) for k in (
        "monotone", "crossfade_monotone", "spearman", "ends_cosine", "ends_kept", "path_monotone")},
        "s": round(time.time() - t0)}), flush=True)

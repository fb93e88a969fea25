"""Issue 19, session 34, run once after the choice (tuning: noise_choice.py, noise_choice_rules.py): the
interpolation report (evaluate_interpolation, eval-unclip's 20 held-out pairs and seeds) with the noise chosen
by its ends among 4 (the new default) and with one noise (as before), the shipped pipeline. One JSON line each:

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/partial_s34/held_out.py
"""
import json
import time

import torch

from difflab.evaluate.unclip import evaluate_interpolation
from difflab.pipelines.unclip import UnCLIPPipeline

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
for candidates in (4, 1):
    t0 = time.time()
    r = evaluate_interpolation(pipe, 20, 8, candidates=candidates, pacing=1)
    print(json.dumps({"candidates": candidates, **{k: round(r[k], 3) for k in (
        "monotone", "crossfade_monotone", "spearman", "ends_cosine", "ends_kept", "path_monotone")}, "s": round(time.time() - t0)}),
          flush=True)

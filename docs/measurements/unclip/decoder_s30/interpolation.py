"""Issue 19, session 30: interpolations of an unCLIP pipeline at its defaults on 60 pairs of the tuning range (held-out
scenes from TUNING_START + 100 on, the pairs of clip_guidance/proto.py; never reported).

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/decoder_s30/interpolation.py PIPELINE
"""
import json
import sys
import time

import torch

from difflab.evaluate.unclip import TUNING_START, evaluate_interpolation
from difflab.pipelines.unclip import UnCLIPPipeline

torch.set_num_threads(1)
t0 = time.time()
result = evaluate_interpolation(UnCLIPPipeline.load(sys.argv[1]), 60, 8, start=TUNING_START + 100,
                                candidates=1, pacing=1)
print(json.dumps({"pipeline": sys.argv[1], "monotone": round(result["monotone"], 3), "spearman": round(result["spearman"], 3),
                  "s": round(time.time() - t0)}), flush=True)

"""Issue 19, session 32, tuning range only: interpolations of the shipped unCLIP pipeline at other classifier-free
guidance scales of the decoder (the pairs of decoder_s30/interpolation.py: 60 pairs from TUNING_START + 100; never
reported). One JSON line per scale:

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/guidance_s32/interpolation.py SCALE [SCALE ...]
"""
import json
import sys

import torch

from difflab.evaluate.unclip import TUNING_START, evaluate_interpolation
from difflab.pipelines.unclip import UnCLIPPipeline

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
for scale in (float(v) for v in sys.argv[1:]):
    result = evaluate_interpolation(pipe, 60, 8, start=TUNING_START + 100, guidance=scale, candidates=1, pacing=1)
    print(json.dumps({"guidance": scale, "monotone": round(result["monotone"], 3),
                      "spearman": round(result["spearman"], 3)}), flush=True)

"""Issue 19, session 32: variations of 300 held-out sources (eval-unclip's stream and seeds, 3 times its default n) at the
decoder's guidance 3 (the pipeline's, the variations' default before) and 1.5 (variation_guidance, chosen on the tuning
range), CLIP guidance 10 in both; run once after the choice.

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/guidance_s32/held_out_300.py
"""
import json

import torch

from difflab.evaluate.unclip import evaluate_variations
from difflab.pipelines.unclip import UnCLIPPipeline

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
for scale in (3.0, 1.5):
    v = evaluate_variations(pipe, 300, candidates=1, guidance=scale)
    print(json.dumps({"guidance": scale, "kept": v["kept"], "pixel_difference": round(v["pixel_difference"], 2)}), flush=True)

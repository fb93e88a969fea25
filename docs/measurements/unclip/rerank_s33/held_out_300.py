"""Issue 19, session 33: variations of 300 held-out sources (eval-unclip's stream and seeds, 3 times its default n), each
the best of `variation_candidates` = 4 by CLIP cosine (the default, chosen on the tuning range); run once after the
choice. The plain decoding of the same sources and seeds (candidates=1) is session 32's line at guidance 1.5
(guidance_s32/held_out_300.txt).

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/rerank_s33/held_out_300.py
"""
import json

import torch

from difflab.evaluate.unclip import evaluate_variations
from difflab.pipelines.unclip import UnCLIPPipeline

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
v = evaluate_variations(pipe, 300)
print(json.dumps({"candidates": pipe.config["defaults"]["variation_candidates"], "kept": v["kept"],
                  "pixel_difference": round(v["pixel_difference"], 2), "pair_difference": round(v["pair_difference"], 2)}),
      flush=True)

"""Issue 19, session 29: variations of 300 held-out sources (eval-unclip's stream and seeds, 3 times its default n),
unguided and with the decoder's CLIP guidance at the scale chosen on the tuning range (10); run once after the choice.

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/clip_guidance/held_out_300.py
"""
import json
import torch
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.unclip import evaluate_variations

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
for scale in (0.0, 10.0):
    v = evaluate_variations(pipe, 300, candidates=1, clip_guidance=scale)
    print(json.dumps({"clip_guidance": scale, "kept": v["kept"], "pixel_difference": round(v["pixel_difference"], 2)}), flush=True)

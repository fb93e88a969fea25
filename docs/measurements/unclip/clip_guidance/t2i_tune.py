"""Issue 19, session 29: unCLIP's text to image with and without the decoder's CLIP guidance towards the prior's
embedding, on the tuning prompts (--prompt-seed 12345 of eval-t2i; never the reported ones).

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/clip_guidance/t2i_tune.py N SCALE...
"""
import json, sys
import torch
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.text_to_image import evaluate_text_to_image

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
n = int(sys.argv[1])
for scale in sys.argv[2:]:
    r = evaluate_text_to_image(pipe, n=n, guidances=(3.0,), prompt_seed=12345, progress=False, clip_guidance=float(scale))
    row = next(iter(r["results"].values()))
    print(json.dumps({"clip_guidance": float(scale), "single": row["single"]["all"], "pair": row["pair"]["all"],
                      "pair_colour": row["pair"]["colour"], "fd_latent": round(row["fd_latent"], 2)}), flush=True)

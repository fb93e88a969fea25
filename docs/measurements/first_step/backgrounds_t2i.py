"""The backgrounds the shipped text-to-image pipeline draws, per sampler and grid, at guidance 1
(the model's own distribution). The prompts leave the background open; training drew black, gray
and white uniformly. The judge's background is the outermost pixel ring's nearest.

    .venv/bin/python docs/measurements/first_step/backgrounds_t2i.py

Tuning prompts (--prompt-seed 12345), 50 single-object and 50 two-object, seed 0.
"""
import collections

import torch

from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_pixels import as_uint8, background
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path

torch.set_num_threads(2)
pipe = TextToImagePipeline.load(shipped_model_path())
prompts = [p for kind in ("single", "pair") for p, _ in eval_prompts(50, kind, 12345)]
for kw in ({"sampler": "unipc", "steps": 10}, {"sampler": "unipc", "steps": 20}, {"sampler": "unipc", "steps": 100},
           {"sampler": "dpmpp-2m", "steps": 20},
           {"sampler": "unipc", "steps": 20, "spacing": "trailing"}, {"sampler": "unipc", "steps": 100, "spacing": "trailing"},
           {"sampler": "ddim", "steps": 100, "spacing": "trailing"}, {"sampler": "euler", "steps": 200, "spacing": "karras"},
           {"sampler": "ddpm", "steps": 250}):
    images = pipe(prompts, seed=0, output="tensor", guidance=1.0, **kw)
    count = collections.Counter(background(as_uint8(x))[1] for x in images)
    print(kw, {k: count[k] for k in ("black", "gray", "white")}, flush=True)

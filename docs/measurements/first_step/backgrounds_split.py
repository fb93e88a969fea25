"""The shipped text-to-image pipeline's backgrounds at guidance 1 on its default path after the first
jump's split (session 35): as backgrounds_t2i.py, the default rows only.

    .venv/bin/python docs/measurements/first_step/backgrounds_split.py
"""
import collections

import torch

from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_pixels import as_uint8, background
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path

torch.set_num_threads(1)
pipe = TextToImagePipeline.load(shipped_model_path())
prompts = [p for kind in ("single", "pair") for p, _ in eval_prompts(50, kind, 12345)]
for kw in ({"sampler": "unipc", "steps": 20}, {"sampler": "unipc", "steps": 50}):
    images = pipe(prompts, seed=0, output="tensor", guidance=1.0, **kw)
    count = collections.Counter(background(as_uint8(x))[1] for x in images)
    print(kw, {k: count[k] for k in ("black", "gray", "white")}, flush=True)

"""Issue 19, session 32, tuning range only (held-out scenes 50,000 on; never reported): variations of the
shipped unCLIP pipeline at other classifier-free guidance scales of the decoder (embedding against none;
the pipeline's default 3), CLIP guidance at its default or, written SCALE,CLIP, at CLIP. N sources x 2, one JSON
line per setting:

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/guidance_s32/variations.py N SCALE[,CLIP] [...]
"""
import json
import sys

import numpy as np
import torch

from difflab.data.shapes import to_uint8
from difflab.evaluate.unclip import TUNING_START, _objects, held_out_scenes
from difflab.metrics.shapes_judge import judge
from difflab.pipelines.unclip import UnCLIPPipeline

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
n = int(sys.argv[1])
scenes, images = held_out_scenes(n, TUNING_START, size=pipe.config["image_size"])
objects = [_objects(s) for s in scenes]
counts = np.repeat([len(o.objects) for o in objects], 2)
source = to_uint8(images)
for setting in sys.argv[2:]:
    scale, *clip = (float(v) for v in setting.split(","))
    extra = {"clip_guidance": clip[0]} if clip else {}
    varied = [v for i in range(n) for v in pipe.variations(source[i], 2, candidates=1, seed=i * 2, guidance=scale, **extra)]
    verdicts = [judge(v, objects[i // 2]) for i, v in enumerate(varied)]
    kept = {k: round(float(np.mean([v[k] for v in verdicts])), 3) for k in ("all", "colour", "shape", "count")}
    by_objects = {int(c): round(float(np.mean([v["all"] for v, k in zip(verdicts, counts) if k == c])), 3)
                  for c in sorted(set(counts.tolist()))}
    diff = float(np.mean([np.abs(v.astype(np.int16) - source[i // 2].astype(np.int16)).mean() for i, v in enumerate(varied)]))
    print(json.dumps({"guidance": scale, **extra, "kept": kept, "kept_by_objects": by_objects, "pixel_difference": round(diff, 2)}), flush=True)

"""Issue 19, session 33, tuning range only (held-out scenes 50,000 on; never reported): variations of the
shipped unCLIP pipeline, each the best of K decoded candidates by CLIP cosine to the source
(`UnCLIPPipeline.variations(candidates=K)`, the library's own path), N sources x 2, one JSON line per K: the
judge's objects kept, by the source's number of objects, the mean pixel difference to the source and between
the two variations of a source (of 255):

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/rerank_s33/variations.py N K [...]
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
for k in (int(a) for a in sys.argv[2:]):
    varied = [pipe.variations(source[i], 2, seed=i * 2, candidates=k) for i in range(n)]
    verdicts = [judge(v, objects[i]) for i in range(n) for v in varied[i]]
    kept = {key: round(float(np.mean([v[key] for v in verdicts])), 3) for key in ("all", "colour", "shape", "count")}
    by_objects = {int(c): round(float(np.mean([v["all"] for v, m in zip(verdicts, counts) if m == c])), 3)
                  for c in sorted(set(counts.tolist()))}
    v16 = [v.astype(np.int16) for v in varied]
    diff = float(np.mean([np.abs(v - source[i].astype(np.int16)).mean() for i, v in enumerate(v16)]))
    pair = float(np.mean([np.abs(v[0] - v[1]).mean() for v in v16]))
    print(json.dumps({"candidates": k, "kept": kept, "kept_by_objects": by_objects, "pixel_difference": round(diff, 2),
                      "pair_difference": round(pair, 2)}), flush=True)

"""Tuning range (held-out scenes 50,000 on, never reported): variations from DDIM-inverted noise by guidance, eta, steps.

    .venv/bin/python docs/measurements/unclip/inversion_variations.py N CONFIGS_JSON
"""
import json, sys, time
import numpy as np, torch
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.unclip import held_out_scenes, TUNING_START, _objects
from difflab.metrics.shapes_judge import judge_batch
from difflab.data.shapes import to_uint8

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
n = int(sys.argv[1]); per = 2
configs = json.loads(sys.argv[2])
scenes, images = held_out_scenes(n, TUNING_START, size=pipe.config["image_size"])
objects = [_objects(s) for s in scenes]
source = to_uint8(images)
for cfg in configs:
    t0 = time.time()
    varied, diffs, pair = [], [], []
    for i in range(n):
        v = pipe.variations(source[i], per, candidates=1, seed=i * per, invert=True, **cfg)
        varied.extend(v)
        d = np.abs(v.astype(np.int16) - source[i].astype(np.int16)).mean(axis=(1, 2, 3))
        diffs.extend(d.tolist())
        pair.append(float(np.abs(v[0].astype(np.int16) - v[1].astype(np.int16)).mean()))
    kept = judge_batch(varied, [o for o in objects for _ in range(per)])
    print(json.dumps({"cfg": cfg, "kept": round(kept["all"], 3), "colour": round(kept["colour"], 3),
                      "diff": round(float(np.mean(diffs)), 2), "pairdiff": round(float(np.mean(pair)), 2),
                      "s": round(time.time() - t0)}), flush=True)

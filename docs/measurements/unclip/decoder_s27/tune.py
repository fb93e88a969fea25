"""Issue 19, session 27: an unCLIP pipeline's variations and interpolations on the tuning range (held-out scenes
50,000 on, never reported), at its defaults: order_tuning.py's measurement for any pipeline folder.

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/decoder_s27/tune.py PIPELINE N PAIRS
"""
import json, sys, time
import numpy as np, torch
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.unclip import evaluate_interpolation, held_out_scenes, TUNING_START, _objects
from difflab.metrics.shapes_judge import judge
from difflab.data.shapes import to_uint8

torch.set_num_threads(2)
pipe = UnCLIPPipeline.load(sys.argv[1])
n, pairs, frames = int(sys.argv[2]), int(sys.argv[3]), 8
scenes, images = held_out_scenes(n, TUNING_START, size=pipe.config["image_size"])
objects = [_objects(s) for s in scenes]
counts = np.array([len(o.objects) for o in objects])
source = to_uint8(images)
t0 = time.time()
varied = []
for i in range(n):
    varied.extend(pipe.variations(source[i], 2, candidates=1, seed=i * 2))
judged = [judge(v, o) for v, o in zip(varied, [o for o in objects for _ in range(2)])]
kept = np.array([j["all"] for j in judged])
interpolation = evaluate_interpolation(pipe, pairs, frames, start=TUNING_START + n, candidates=1, pacing=1)
by_count = {int(c): round(float(kept[np.repeat(counts, 2) == c].mean()), 3) for c in sorted(set(counts))}
print(json.dumps({"pipeline": sys.argv[1], "kept": round(float(kept.mean()), 3),
                  **{a: round(float(np.mean([j[a] for j in judged if a in j])), 3) for a in ("colour", "shape", "count")},
                  "kept_by_objects": by_count, "monotone": interpolation["monotone"], "spearman": round(interpolation["spearman"], 3),
                  "s": round(time.time() - t0)}), flush=True)

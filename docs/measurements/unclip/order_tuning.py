"""Tuning range (held-out scenes 50,000 on, never reported): unCLIP variations and interpolations with the
decoder's multistep order 3 (before) and 2 (the guided rule), explicit so the run does not depend on the default."""
import json, sys, time
import numpy as np, torch
from scipy.stats import spearmanr
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.unclip import held_out_scenes, TUNING_START, _objects
from difflab.metrics.shapes_judge import judge_batch
from difflab.data.shapes import to_uint8

torch.set_num_threads(1)
pipe = UnCLIPPipeline.shipped()
n, pairs, frames = int(sys.argv[1]), int(sys.argv[2]), 8
scenes, images = held_out_scenes(n + 2 * pairs, TUNING_START, size=pipe.config["image_size"])
objects = [_objects(s) for s in scenes]
source = to_uint8(images)
for order in (2, 3):
    t0 = time.time()
    varied = []
    for i in range(n):
        varied.extend(pipe.variations(source[i], 2, candidates=1, seed=i * 2, order=order))
    kept = judge_batch(varied, [o for o in objects[:n] for _ in range(2)])
    mono, rho = [], []
    for k in range(pairs):
        a, b = source[n + 2 * k], source[n + 2 * k + 1]
        out, path = pipe.interpolate(a, b, frames, seed=k, order=order, candidates=1, pacing=1)
        ends = pipe.clip.encode_image([a, b])
        z = pipe.clip.encode_image(list(out))
        m = (z @ ends[1] - z @ ends[0]).cpu().numpy()
        mono.append(bool((np.diff(m) >= 0).all()))
        r = spearmanr(np.arange(frames), m).correlation
        rho.append(0.0 if np.isnan(r) else float(r))
    print(json.dumps({"order": order, "kept": round(kept["all"], 3), "colour": round(kept["colour"], 3),
                      "shape": round(kept["shape"], 3), "count": round(kept["count"], 3),
                      "monotone": float(np.mean(mono)), "spearman": round(float(np.mean(rho)), 3),
                      "s": round(time.time() - t0)}), flush=True)

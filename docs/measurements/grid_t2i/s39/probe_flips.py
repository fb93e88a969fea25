"""Issue 17, session 39: which calibration images does 10-step sampling get wrong that 50 steps gets right, and how
far are their latents from the 50-step solution of the same noise? The shipped pipeline, unipc, guidance 3, 800
calibration prompts, noise seeds 200000+ (the score of `tune-grid --against faithfulness`): the checks the lost images
fail, and lost.png (10 steps left, 50 steps right, the first eight lost). Tuning side only.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_flips.py > docs/measurements/grid_t2i/s39/probe_flips.txt
"""
import collections
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from difflab.metrics.shapes_judge import judge
from difflab.pipelines.text_to_image import TextToImagePipeline, calibration_prompts, shipped_model_path
from difflab.samplers import sample
from difflab.tensors import randn

N, SEED = 800, 200000
pipe = TextToImagePipeline.load(shipped_model_path())
model, shape, cond = pipe.calibration(N, guidance=3.0)
items = calibration_prompts(N)
noise = randn(shape, SEED)
latents, right, verdicts, images = {}, {}, {}, {}
for steps in (10, 20, 50):
    with torch.no_grad():
        latents[steps] = sample(model, noise, "unipc", steps, cond=cond)
        images[steps] = pipe.decode(latents[steps]).float()
    verdicts[steps] = [judge(img, attrs) for img, (_, attrs) in zip(images[steps], items)]
    right[steps] = np.array([all(v.values()) for v in verdicts[steps]])
pair = np.array([len(attrs.objects) == 2 for _, attrs in items])
for steps in (10, 20):
    d = ((latents[steps] - latents[50]) ** 2).flatten(1).mean(1).sqrt().numpy()
    lost, gained = right[50] & ~right[steps], ~right[50] & right[steps]
    both = right[50] == right[steps]
    print(json.dumps({
        "steps": steps, "wrong_single": int((~right[steps] & ~pair).sum()), "wrong_pair": int((~right[steps] & pair).sum()),
        "lost_vs_50": int(lost.sum()), "gained_vs_50": int(gained.sum()),
        "rms_to_50_quantiles_50_90_99_max": [round(float(q), 4) for q in np.quantile(d, [0.5, 0.9, 0.99, 1.0])],
        "rms_to_50_median_where_verdict_changed": round(float(np.median(d[~both])), 4) if (~both).any() else None,
        "rms_to_50_median_where_same": round(float(np.median(d[both])), 4),
        "share_of_changed_among_top_5pc_rms": round(float((~both)[d >= np.quantile(d, 0.95)].mean()), 3),
    }), flush=True)
print(json.dumps({"steps": 50, "wrong_single": int((~right[50] & ~pair).sum()), "wrong_pair": int((~right[50] & pair).sum())}))
lost = np.flatnonzero(right[50] & ~right[10])
failing = collections.Counter(k for i in lost for k, ok in verdicts[10][i].items() if not ok and k != "all")
print(json.dumps({"lost_at_10_failing_checks": dict(failing.most_common())}))


def pixels(img):
    return ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


rows = [np.concatenate([pixels(images[10][i]), pixels(images[50][i])], 1) for i in lost[:8]]
for i in lost[:8]:
    print(json.dumps({"lost": int(i), "prompt": items[i][0],
                      "failing": [k for k, ok in verdicts[10][i].items() if not ok and k != "all"]}))
Image.fromarray(np.concatenate(rows, 0)).save(Path(__file__).with_name("lost.png"))

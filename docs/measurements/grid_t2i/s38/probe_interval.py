"""Issue 17, session 38: guidance in a limited interval of noise levels (Kynkaanniemi et al. 2024) at 10 steps,
on the stored grid: the score of `tune-grid --against faithfulness` (the judge's misses on 800 calibration
prompts, noise seeds 200000+; guidance 3 everywhere scores 20.375, 20 steps 17.75: calibration_scores.txt).
Outside the interval the model is the conditional denoiser alone (scale 1), or (the last rows) guided at
another scale below a level. Tuning side only, for the next
session's design: nothing reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s38/probe_interval.py > docs/measurements/grid_t2i/s38/probe_interval.txt
"""
import json
import time

import torch

from difflab.evaluate.text_to_image import faithfulness_objective
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
from difflab.samplers import sample
from difflab.tensors import randn

N, SEED = 800, 200000
STORED = [20291.1696, 23.3076, 7.9308, 4.5077, 2.8752, 1.7015, 1.1106, 0.5821, 0.484, 0.0944, 0.0]
pipe = TextToImagePipeline.load(shipped_model_path())
score = faithfulness_objective(pipe, N)


class ByLevel:
    """``inside`` where lo <= sigma <= hi, ``outside`` elsewhere (both denoisers of one schedule)."""

    def __init__(self, inside, outside, lo, hi):
        self.inside, self.outside, self.lo, self.hi = inside, outside, lo, hi
        self.schedule = inside.schedule

    def __call__(self, x, sigma, **cond):
        s = float(torch.as_tensor(sigma).reshape(-1)[0])
        return (self.inside if self.lo <= s <= self.hi else self.outside)(x, sigma, **cond)


for scale, lo, hi in [(3.0, 0.0, 1e9), (3.0, 0.0, 30.0), (3.0, 0.4, 1e9), (4.0, 0.4, 30.0)]:
    guided, shape, cond = pipe.calibration(N, guidance=scale)
    t0 = time.time()
    with torch.no_grad():
        x = sample(ByLevel(guided, guided.denoiser, lo, hi), randn(shape, SEED), "unipc", 10, cond=cond, order=2, sigma_data=1.0103,
                   sigmas=torch.tensor(STORED, dtype=torch.float64))
    print(json.dumps({"guidance": scale, "interval": [lo, hi], "judge_misses": round(score(x), 3),
                      "seconds": round(time.time() - t0, 1)}), flush=True)


for low_scale in (4.0, 5.0):
    high, shape, cond = pipe.calibration(N, guidance=3.0)
    low, _, _ = pipe.calibration(N, guidance=low_scale)
    t0 = time.time()
    with torch.no_grad():
        x = sample(ByLevel(low, high, 0.0, 0.5), randn(shape, SEED), "unipc", 10, cond=cond, order=2, sigma_data=1.0103,
                   sigmas=torch.tensor(STORED, dtype=torch.float64))
    print(json.dumps({"guidance": 3.0, "below 0.5": low_scale, "judge_misses": round(score(x), 3),
                      "seconds": round(time.time() - t0, 1)}), flush=True)

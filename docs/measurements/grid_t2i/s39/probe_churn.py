"""Issue 17, session 39: probe_where.txt places the 10-step loss below sigma ~1, where colours commit. Does EDM's
stochastic churn there (Karras et al. 2022, Algorithm 2: noise added back before each step in [s_tmin, s_tmax],
gamma = min(churn / steps, sqrt 2 - 1)) let Euler's 10 steps correct what the long steps leave mixed? Scored as
`tune-grid --against faithfulness` scores (800 calibration prompts, noise seeds 200000+, guidance 3, the stored grid;
Euler without churn 21.0, UniPC 20.375, 20 steps 17.75). Tuning side only: nothing reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_churn.py > docs/measurements/grid_t2i/s39/probe_churn.txt
"""
import json
import time

import torch

from difflab.evaluate.text_to_image import faithfulness_objective
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
from difflab.samplers import sample
from difflab.tensors import randn

N, SEED = 800, 200000
pipe = TextToImagePipeline.load(shipped_model_path())
model, shape, cond = pipe.calibration(N, guidance=3.0)
score = faithfulness_objective(pipe, N)
noise = randn(shape, SEED)
stored = [20291.1696, 23.3076, 7.9308, 4.5077, 2.8752, 1.7015, 1.1106, 0.5821, 0.484, 0.0944, 0.0]
for options in ({"churn": 2.0, "s_tmin": 0.05, "s_tmax": 3.0}, {"churn": 4.0, "s_tmin": 0.05, "s_tmax": 3.0},
                {"churn": 4.0, "s_tmin": 0.3, "s_tmax": 10.0}):
    t0 = time.time()
    with torch.no_grad():
        x = sample(model, noise, "euler", 10, cond=cond, sigmas=torch.tensor(stored, dtype=torch.float64),
                   generator=SEED, **options)
    print(json.dumps({"sampler": "euler", "options": options, "judge_misses": round(score(x), 3),
                      "seconds": round(time.time() - t0, 1)}), flush=True)

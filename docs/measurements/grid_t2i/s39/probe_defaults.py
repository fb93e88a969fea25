"""Issue 17, session 39: dpmpp-2m (39.25) and dpmpp-2m-sde (85.25) missed far more than unipc (20.4) on the stored
10-step unipc grid (probe_samplers.txt). Do they on their own default grids, at 10 and 20 steps? Scored as
`tune-grid --against faithfulness` scores (800 calibration prompts, noise seeds 200000+, guidance 3). Tuning side only.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_defaults.py > docs/measurements/grid_t2i/s39/probe_defaults.txt
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
for sampler in ("dpmpp-2m", "dpmpp-2m-sde"):
    for steps in (10, 20):
        t0 = time.time()
        with torch.no_grad():
            x, info = sample(model, randn(shape, SEED), sampler, steps, cond=cond, generator=SEED, return_info=True)
        print(json.dumps({"sampler": sampler, "steps": steps, "sigmas": [round(float(s), 4) for s in info.sigmas],
                          "judge_misses": round(score(x), 3), "seconds": round(time.time() - t0, 1)}), flush=True)

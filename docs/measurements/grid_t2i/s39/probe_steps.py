"""Issue 17, session 39: how many UniPC steps does the shipped pipeline need to come within 2 points of 20 steps on
the calibration prompts? (A solver that buys "15-30 %" fewer steps, as DPM-Solver-v3 reports, closes the gap only if
about 12-13 steps suffice.) The judge's misses on 800 calibration prompts, noise seeds 200000+, guidance 3, the
pipeline's default grids (the stored grid at 10 steps: 20.375; the rule elsewhere; 20 steps 17.75). Tuning side only.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_steps.py > docs/measurements/grid_t2i/s39/probe_steps.txt
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
for steps in (12, 14, 16):
    t0 = time.time()
    with torch.no_grad():
        x, info = sample(model, randn(shape, SEED), "unipc", steps, cond=cond, return_info=True)
    print(json.dumps({"steps": steps, "sigmas": [round(float(s), 4) for s in info.sigmas],
                      "judge_misses": round(score(x), 3), "seconds": round(time.time() - t0, 1)}), flush=True)

"""Issue 17, session 38: the score `tune-grid --against faithfulness` minimised (the judge's misses on the 800
calibration prompts, noise seeds 200000+, guidance 3), for fixed settings of the shipped pipeline, so that the
tuned grid's score (tune-judge-10.log) can be read against 20 and 50 steps on the same prompts and noise.
Tuning side only: it chooses nothing and reads no held-out prompt.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s38/calibration_scores.py > docs/measurements/grid_t2i/s38/calibration_scores.txt
"""
import json
import time

import torch

from difflab.evaluate.text_to_image import faithfulness_objective
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
from difflab.samplers import sample
from difflab.tensors import randn

N, SEED = 800, 200000
shipped = TextToImagePipeline.load(shipped_model_path())
tuned = TextToImagePipeline.load("runs/s38/t2i-judge")
settings = [("shipped", shipped, {"steps": 10}), ("judge-tuned", tuned, {"steps": 10}),
            ("shipped", shipped, {"steps": 20}), ("shipped", shipped, {"steps": 50})]
for name, pipe, kw in settings:
    model, shape, cond = pipe.calibration(N, guidance=3.0)
    score = faithfulness_objective(pipe, N)
    t0 = time.time()
    with torch.no_grad():
        x, info = sample(model, randn(shape, SEED), "unipc", cond=cond, return_info=True, **kw)
    print(json.dumps({"pipeline": name, **kw, "grid": [round(float(s), 4) for s in info.sigmas],
                      "judge_misses": round(score(x), 3), "seconds": round(time.time() - t0, 1)}), flush=True)

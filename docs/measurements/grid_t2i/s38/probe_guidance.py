"""Issue 17, session 38: does the guidance scale, rather than the grid, move the 10-step faithfulness? The score of
`tune-grid --against faithfulness` (the judge's misses on 800 calibration prompts, noise seeds 200000+) of the
shipped pipeline at 10 steps on its stored grid, at several scales (guidance 3, the default, scores 20.375; 20 steps
at guidance 3 17.75: calibration_scores.txt). Tuning side only, for the next session's design: nothing reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s38/probe_guidance.py > docs/measurements/grid_t2i/s38/probe_guidance.txt
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
score = faithfulness_objective(pipe, N)
for guidance in (2.0, 4.0, 5.0):
    model, shape, cond = pipe.calibration(N, guidance=guidance)
    t0 = time.time()
    with torch.no_grad():
        x = sample(model, randn(shape, SEED), "unipc", 10, cond=cond)
    print(json.dumps({"guidance": guidance, "steps": 10, "judge_misses": round(score(x), 3),
                      "seconds": round(time.time() - t0, 1)}), flush=True)

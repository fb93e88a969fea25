"""Issue 17, session 39: is the 10- vs 20-step faithfulness gap made by guidance? The judge's misses (the score of
`tune-grid --against faithfulness`: 800 calibration prompts, noise seeds 200000+, unipc, the pipeline's default grids)
at 10 and 20 steps for guidance 1 (none), 2 and 3 (the default: 20.375 / 17.75 in ../s38/calibration_scores.txt).
Tuning side only: nothing reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_gap_by_guidance.py > docs/measurements/grid_t2i/s39/probe_gap_by_guidance.txt
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
for guidance in (1.0, 2.0):
    model, shape, cond = pipe.calibration(N, guidance=guidance)
    for steps in (10, 20):
        t0 = time.time()
        with torch.no_grad():
            x = sample(model, randn(shape, SEED), "unipc", steps, cond=cond)
        print(json.dumps({"guidance": guidance, "steps": steps, "judge_misses": round(score(x), 3),
                          "seconds": round(time.time() - t0, 1)}), flush=True)

"""Issue 17, session 39: do other samplers use 10 evaluations better than UniPC (order 2 under guidance) on the
shipped text-to-image model? The score of `tune-grid --against faithfulness` (the judge's misses on 800 calibration
prompts, noise seeds 200000+, guidance 3; stored grid 20.375, 20 steps 17.75: ../s38/calibration_scores.txt), each
sampler on the stored 10-step grid's levels (the single-step ones on every other level). Tuning side only: nothing
here is reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_samplers.py > docs/measurements/grid_t2i/s39/probe_samplers.txt
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
half = stored[0::2]  # 5 steps: heun's 2 x 5 - 1 = 9 evaluations
runs = [
    ("unipc", stored, {"sigma_data": 1.0103}),  # control: 20.375
    ("unipc", stored, {"sigma_data": 1.0103, "order": 1}),
    ("unipc", stored, {"sigma_data": 1.0103, "order": 3}),
    ("unipc", stored, {}),
    ("dpmpp-2m", stored, {}),
    ("deis", stored, {"order": 2}),
    ("euler", stored, {}),
    ("dpmpp-2m-sde", stored, {}),
    ("dpmpp-2m-sde", stored, {"eta": 0.5}),
    ("heun", half, {}),
]
for sampler, g, options in runs:
    t0 = time.time()
    with torch.no_grad():
        x, info = sample(model, noise, sampler, len(g) - 1, cond=cond, sigmas=torch.tensor(g, dtype=torch.float64),
                         generator=SEED, return_info=True, **options)
    print(json.dumps({"sampler": sampler, "options": options, "nfe": info.nfe, "sigmas": g,
                      "judge_misses": round(score(x), 3), "seconds": round(time.time() - t0, 1)}), flush=True)

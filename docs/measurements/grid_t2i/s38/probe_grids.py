"""Issue 17, session 38: a probe of hand-made 10-step grids on the calibration prompts (the score of
`tune-grid --against faithfulness`: the judge's misses on 800 calibration prompts, noise seeds 200000+,
guidance 3; the shipped pipeline's stored grid scores 20.375, 20 steps 17.75, 50 steps 17.625:
calibration_scores.txt). Tuning side only, for the next search's design: nothing here was reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s38/probe_grids.py > docs/measurements/grid_t2i/s38/probe_grids.txt
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
_, rule20 = sample(model, noise[:1], "unipc", 20, cond={k: v[:1] for k, v in cond.items()}, return_info=True)
r20 = [float(s) for s in rule20.sigmas]
stored = [20291.1696, 23.3076, 7.9308, 4.5077, 2.8752, 1.7015, 1.1106, 0.5821, 0.484, 0.0944, 0.0]
grids = {
    "stored, passed as sigmas (control: 20.375 if the options match)": stored,
    "20-step rule, every other level": r20[0:1] + r20[2:20:2] + [0.0],
    "stored above 1.7, the 20-step rule's every other level below": stored[:6] + [0.8758, 0.3856, 0.1698, 0.0496, 0.0],
    "stored above 2.9, the 20-step rule's levels from 1.99 every other": stored[:5] + [1.9892, 0.8758, 0.3856, 0.1698, 0.0496, 0.0],
}
for name, g in grids.items():
    assert len(g) == 11 and all(a > b for a, b in zip(g, g[1:])), (name, g)
    t0 = time.time()
    with torch.no_grad():
        x = sample(model, noise, "unipc", 10, cond=cond, sigmas=torch.tensor(g, dtype=torch.float64))
    print(json.dumps({"grid": name, "sigmas": [round(s, 4) for s in g], "judge_misses": round(score(x), 3),
                      "seconds": round(time.time() - t0, 1)}), flush=True)

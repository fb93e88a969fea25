"""Issue 17, session 39: probe_where.txt found the 10-step loss below sigma 1.1 (the 20-step rule's levels there with
the stored grid above: 17.25; the other way round: 20.6). 10-step grids that keep few levels at high noise and space
the rest evenly in log sigma down to a smallest level, scored as `tune-grid --against faithfulness` scores (the
judge's misses on 800 calibration prompts, noise seeds 200000+, guidance 3, unipc; stored grid 20.375, 20 steps
17.75). Tuning side only, for the search's start: nothing here is reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_tail.py > docs/measurements/grid_t2i/s39/probe_tail.txt
"""
import json
import time

import numpy as np
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
TOP = 20291.1696


def grid(high, hi, lo, k):
    return [TOP, *high, *np.geomspace(hi, lo, k).round(4).tolist(), 0.0]


grids = {
    "23.3, 7.93, then 7 from 3 to 0.03": grid([23.3076, 7.9308], 3.0, 0.03, 7),
    "23.3, then 8 from 6 to 0.03": grid([23.3076], 6.0, 0.03, 8),
    "23.3, 7.93, then 7 from 3 to 0.06": grid([23.3076, 7.9308], 3.0, 0.06, 7),
    "23.3, 7.93, then 7 from 3 to 0.015": grid([23.3076, 7.9308], 3.0, 0.015, 7),
    "10, then 8 from 4 to 0.03": grid([10.0], 4.0, 0.03, 8),
}
for name, g in grids.items():
    assert len(g) == 11 and all(a > b for a, b in zip(g, g[1:])), (name, g)
    t0 = time.time()
    with torch.no_grad():
        x = sample(model, noise, "unipc", 10, cond=cond, sigmas=torch.tensor(g, dtype=torch.float64), sigma_data=1.0103)
    print(json.dumps({"grid": name, "sigmas": g, "judge_misses": round(score(x), 3),
                      "seconds": round(time.time() - t0, 1)}), flush=True)

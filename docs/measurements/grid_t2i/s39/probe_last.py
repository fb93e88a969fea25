"""Issue 17, session 39: probe_tail.txt found that the lower a 10-step grid's last level above 0, the more the judge
misses (0.015: 30.1, 0.03: 26.0, 0.06: 22.25; the stored grid's 0.0944: 20.4). The stored grid with its last level
raised, and two grids that end higher, scored as `tune-grid --against faithfulness` scores (the judge's misses on 800
calibration prompts, noise seeds 200000+, guidance 3, unipc; 20 steps 17.75). Tuning side only: nothing reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_last.py > docs/measurements/grid_t2i/s39/probe_last.txt
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
grids = {
    "stored, last level 0.15": stored[:9] + [0.15, 0.0],
    "stored, last level 0.25": stored[:9] + [0.25, 0.0],
    "stored, last level 0.35": stored[:9] + [0.35, 0.0],
    "stored to 1.11, then 0.75, 0.5, 0.25": stored[:7] + [0.75, 0.5, 0.25, 0.0],
    "stored to 0.58, then 0.4, 0.2": stored[:8] + [0.4, 0.2, 0.0],
}
for name, g in grids.items():
    assert len(g) == 11 and all(a > b for a, b in zip(g, g[1:])), (name, g)
    t0 = time.time()
    with torch.no_grad():
        x = sample(model, noise, "unipc", 10, cond=cond, sigmas=torch.tensor(g, dtype=torch.float64), sigma_data=1.0103)
    print(json.dumps({"grid": name, "sigmas": g, "judge_misses": round(score(x), 3),
                      "seconds": round(time.time() - t0, 1)}), flush=True)

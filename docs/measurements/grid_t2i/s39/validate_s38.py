"""Issue 17, session 39: would the validation batch `tune-grid` now checks a found grid on (other prompts, stream
VALIDATION_SEED; the next 800 noise seeds, 200800+) have refused session 38's judged 10-step grid? That grid beat
its start (the stored grid) on the calibration prompts (19.75 against 20.375 % misses) and lost to it on the held-out
prompts (93.25 / 63.5 against 94.75 / 65.75 % right). Tuning streams only: no held-out prompt is read.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/validate_s38.py > docs/measurements/grid_t2i/s39/validate_s38.txt
"""
import json
import time
from pathlib import Path

import torch

from difflab.evaluate.text_to_image import faithfulness_objective
from difflab.pipelines.text_to_image import VALIDATION_SEED, TextToImagePipeline, shipped_model_path
from difflab.samplers import sample
from difflab.tensors import randn

N, SEED = 800, 200000
pipe = TextToImagePipeline.load(shipped_model_path())
model, shape, cond = pipe.calibration(N, guidance=3.0, prompt_seed=VALIDATION_SEED)
score = faithfulness_objective(pipe, N, prompt_seed=VALIDATION_SEED)
noise = randn(shape, SEED + N)
judged = json.loads((Path(__file__).parent.parent / "s38" / "grids-judge.json").read_text())["grids"]["unipc"]["10"]
grids = {"start (the stored grid)": judged["start_sigmas"], "found (session 38, judged)": judged["sigmas"]}
assert grids["start (the stored grid)"] == [float(v) for v in pipe.denoiser.grids[("unipc", 10)]["sigmas"]]
for name, g in grids.items():
    t0 = time.time()
    with torch.no_grad():
        x = sample(model, noise, "unipc", 10, cond=cond, sigmas=torch.tensor(g, dtype=torch.float64), sigma_data=1.0103)
    print(json.dumps({"grid": name, "validation_misses": round(score(x), 3), "seconds": round(time.time() - t0, 1)}),
          flush=True)

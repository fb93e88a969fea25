"""Issue 17, session 39: would the validation batch `tune-grid` now checks a found grid on (other prompts, stream
VALIDATION_SEED; the next 800 noise seeds, 200800+) have refused session 38's judged 10-step grid? That grid beat
its start (the stored grid) on the calibration prompts (19.75 against 20.375 % misses) and lost to it on the held-out
prompts (93.25 / 63.5 against 94.75 / 65.75 % right). Tuning streams only: no held-out prompt is read.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/validate_s38.py > docs/measurements/grid_t2i/s39/validate_s38.txt
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from difflab.pipelines.text_to_image import VALIDATION_SEED  # noqa: E402
from probes import N, SEED, SIGMA_DATA, calibration, line, pipe, scored  # noqa: E402

model, cond, noise, score = calibration(prompt_seed=VALIDATION_SEED, noise_seed=SEED + N)
judged = json.loads((Path(__file__).parent.parent / "s38" / "grids-judge.json").read_text())["grids"]["unipc"]["10"]
grids = {"start (the stored grid)": judged["start_sigmas"], "found (session 38, judged)": judged["sigmas"]}
assert grids["start (the stored grid)"] == [float(v) for v in pipe.denoiser.grids[("unipc", 10)]["sigmas"]]
for name, g in grids.items():
    _, run = scored(model, cond, noise, score, sigmas=g, key="validation_misses", sigma_data=SIGMA_DATA)
    line({"grid": name}, run)

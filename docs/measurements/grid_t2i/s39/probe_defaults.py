"""Issue 17, session 39: dpmpp-2m (39.25) and dpmpp-2m-sde (85.25) missed far more than unipc (20.4) on the stored
10-step unipc grid (probe_samplers.txt). Do they on their own default grids, at 10 and 20 steps? Scored as
`tune-grid --against faithfulness` scores (800 calibration prompts, noise seeds 200000+, guidance 3). Tuning side only.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_defaults.py > docs/measurements/grid_t2i/s39/probe_defaults.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from probes import calibration, line, scored  # noqa: E402

model, cond, noise, score = calibration()
for sampler in ("dpmpp-2m", "dpmpp-2m-sde"):
    for steps in (10, 20):
        _, run = scored(model, cond, noise, score, sampler, steps)
        line({"sampler": sampler, "steps": steps}, run, "sigmas")

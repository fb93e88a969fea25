"""Issue 17, session 39: how many UniPC steps does the shipped pipeline need to come within 2 points of 20 steps on
the calibration prompts? (A solver that buys "15-30 %" fewer steps, as DPM-Solver-v3 reports, closes the gap only if
about 12-13 steps suffice.) The judge's misses on 800 calibration prompts, noise seeds 200000+, guidance 3, the
pipeline's default grids (the stored grid at 10 steps: 20.375; the rule elsewhere; 20 steps 17.75). Tuning side only.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_steps.py > docs/measurements/grid_t2i/s39/probe_steps.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from probes import calibration, line, scored  # noqa: E402

model, cond, noise, score = calibration()
for steps in (12, 14, 16):
    _, run = scored(model, cond, noise, score, steps=steps)
    line({"steps": steps}, run, "sigmas")

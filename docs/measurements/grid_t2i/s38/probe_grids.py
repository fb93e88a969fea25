"""Issue 17, session 38: a probe of hand-made 10-step grids on the calibration prompts (the score of
`tune-grid --against faithfulness`: the judge's misses on 800 calibration prompts, noise seeds 200000+,
guidance 3; the shipped pipeline's stored grid scores 20.375, 20 steps 17.75, 50 steps 17.625:
calibration_scores.txt). Tuning side only, for the next search's design: nothing here was reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s38/probe_grids.py > docs/measurements/grid_t2i/s38/probe_grids.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from probes import STORED, calibration, line, ordered, scored  # noqa: E402
from difflab.samplers import sample  # noqa: E402

model, cond, noise, score = calibration()
_, rule20 = sample(model, noise[:1], "unipc", 20, cond={k: v[:1] for k, v in cond.items()}, return_info=True)
r20 = [float(s) for s in rule20.sigmas]
grids = {
    "stored, passed as sigmas (control: 20.375 if the options match)": STORED,
    "20-step rule, every other level": r20[0:1] + r20[2:20:2] + [0.0],
    "stored above 1.7, the 20-step rule's every other level below": STORED[:6] + [0.8758, 0.3856, 0.1698, 0.0496, 0.0],
    "stored above 2.9, the 20-step rule's levels from 1.99 every other": STORED[:5] + [1.9892, 0.8758, 0.3856, 0.1698, 0.0496, 0.0],
}
for name, g in grids.items():
    _, run = scored(model, cond, noise, score, sigmas=ordered(name, g))
    line({"grid": name}, run, "sigmas")

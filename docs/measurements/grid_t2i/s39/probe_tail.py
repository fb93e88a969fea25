"""Issue 17, session 39: probe_where.txt found the 10-step loss below sigma 1.1 (the 20-step rule's levels there with
the stored grid above: 17.25; the other way round: 20.6). 10-step grids that keep few levels at high noise and space
the rest evenly in log sigma down to a smallest level, scored as `tune-grid --against faithfulness` scores (the
judge's misses on 800 calibration prompts, noise seeds 200000+, guidance 3, unipc; stored grid 20.375, 20 steps
17.75). Tuning side only, for the search's start: nothing here is reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_tail.py > docs/measurements/grid_t2i/s39/probe_tail.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
import numpy as np  # noqa: E402

from probes import SIGMA_DATA, STORED, calibration, line, ordered, scored  # noqa: E402

model, cond, noise, score = calibration()


def grid(high, hi, lo, k):
    return [STORED[0], *high, *np.geomspace(hi, lo, k).round(4).tolist(), 0.0]


grids = {
    "23.3, 7.93, then 7 from 3 to 0.03": grid([23.3076, 7.9308], 3.0, 0.03, 7),
    "23.3, then 8 from 6 to 0.03": grid([23.3076], 6.0, 0.03, 8),
    "23.3, 7.93, then 7 from 3 to 0.06": grid([23.3076, 7.9308], 3.0, 0.06, 7),
    "23.3, 7.93, then 7 from 3 to 0.015": grid([23.3076, 7.9308], 3.0, 0.015, 7),
    "10, then 8 from 4 to 0.03": grid([10.0], 4.0, 0.03, 8),
}
for name, g in grids.items():
    _, run = scored(model, cond, noise, score, sigmas=ordered(name, g), sigma_data=SIGMA_DATA)
    line({"grid": name}, run, "sigmas")

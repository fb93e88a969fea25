"""Issue 17, session 39: probe_tail.txt found that the lower a 10-step grid's last level above 0, the more the judge
misses (0.015: 30.1, 0.03: 26.0, 0.06: 22.25; the stored grid's 0.0944: 20.4). The stored grid with its last level
raised, and two grids that end higher, scored as `tune-grid --against faithfulness` scores (the judge's misses on 800
calibration prompts, noise seeds 200000+, guidance 3, unipc; 20 steps 17.75). Tuning side only: nothing reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_last.py > docs/measurements/grid_t2i/s39/probe_last.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from probes import SIGMA_DATA, STORED, calibration, line, ordered, scored  # noqa: E402

model, cond, noise, score = calibration()
grids = {
    "stored, last level 0.15": STORED[:9] + [0.15, 0.0],
    "stored, last level 0.25": STORED[:9] + [0.25, 0.0],
    "stored, last level 0.35": STORED[:9] + [0.35, 0.0],
    "stored to 1.11, then 0.75, 0.5, 0.25": STORED[:7] + [0.75, 0.5, 0.25, 0.0],
    "stored to 0.58, then 0.4, 0.2": STORED[:8] + [0.4, 0.2, 0.0],
}
for name, g in grids.items():
    _, run = scored(model, cond, noise, score, sigmas=ordered(name, g), sigma_data=SIGMA_DATA)
    line({"grid": name}, run, "sigmas")

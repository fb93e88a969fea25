"""Issue 17, session 39: where along the noise levels does 10-step sampling lose faithfulness? Grids of more than 10
steps that take the 20-step rule's levels in one range and the stored 10-step grid's in the other, scored as
`tune-grid --against faithfulness` scores (the judge's misses on 800 calibration prompts, noise seeds 200000+,
guidance 3, unipc; stored 10-step grid 20.375, 20 steps 17.75). Tuning side only: nothing here is reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_where.py > docs/measurements/grid_t2i/s39/probe_where.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from probes import SIGMA_DATA, STORED, calibration, line, ordered, scored  # noqa: E402

model, cond, noise, score = calibration()
rule20 = [20291.1696, 687.7054, 23.3076, 15.4654, 10.2618, 6.8091, 4.5181, 2.9979, 1.9892, 1.3199, 0.8758, 0.5811,
          0.3856, 0.2559, 0.1698, 0.1126, 0.0747, 0.0496, 0.0329, 0.0218, 0.0]
grids = {
    "20-step rule above 4.5, stored below": [s for s in rule20 if s > 4.52] + [s for s in STORED if s < 4.51],
    "stored above 4.5, 20-step rule below": [s for s in STORED if s > 4.5] + [s for s in rule20 if s < 4.5],
    "stored with 687.7 added": STORED[:1] + [687.7054] + STORED[1:],
    "20-step rule without 687.7": rule20[:1] + rule20[2:],
    "20-step rule above 1.1, stored below": [s for s in rule20 if s > 1.12] + [s for s in STORED if s < 1.12],
}
for name, g in grids.items():
    _, run = scored(model, cond, noise, score, sigmas=ordered(name, g, None), sigma_data=SIGMA_DATA)
    line({"grid": name, "steps": len(g) - 1}, run, "sigmas")

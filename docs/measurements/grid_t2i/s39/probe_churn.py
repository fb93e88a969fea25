"""Issue 17, session 39: probe_where.txt places the 10-step loss below sigma ~1, where colours commit. Does EDM's
stochastic churn there (Karras et al. 2022, Algorithm 2: noise added back before each step in [s_tmin, s_tmax],
gamma = min(churn / steps, sqrt 2 - 1)) let Euler's 10 steps correct what the long steps leave mixed? Scored as
`tune-grid --against faithfulness` scores (800 calibration prompts, noise seeds 200000+, guidance 3, the stored grid;
Euler without churn 21.0, UniPC 20.375, 20 steps 17.75). Tuning side only: nothing reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_churn.py > docs/measurements/grid_t2i/s39/probe_churn.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from probes import STORED, calibration, line, scored  # noqa: E402

model, cond, noise, score = calibration()
for options in ({"churn": 2.0, "s_tmin": 0.05, "s_tmax": 3.0}, {"churn": 4.0, "s_tmin": 0.05, "s_tmax": 3.0},
                {"churn": 4.0, "s_tmin": 0.3, "s_tmax": 10.0}):
    _, run = scored(model, cond, noise, score, "euler", sigmas=STORED, **options)
    line({"sampler": "euler", "options": options}, run)

"""Issue 17, session 39: do other samplers use 10 evaluations better than UniPC (order 2 under guidance) on the
shipped text-to-image model? The score of `tune-grid --against faithfulness` (the judge's misses on 800 calibration
prompts, noise seeds 200000+, guidance 3; stored grid 20.375, 20 steps 17.75: ../s38/calibration_scores.txt), each
sampler on the stored 10-step grid's levels (the single-step ones on every other level). Tuning side only: nothing
here is reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_samplers.py > docs/measurements/grid_t2i/s39/probe_samplers.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from probes import SIGMA_DATA, STORED, calibration, line, scored  # noqa: E402

model, cond, noise, score = calibration()
half = STORED[0::2]  # 5 steps: heun's 2 x 5 - 1 = 9 evaluations
runs = [
    ("unipc", STORED, {"sigma_data": SIGMA_DATA}),  # control: 20.375
    ("unipc", STORED, {"sigma_data": SIGMA_DATA, "order": 1}),
    ("unipc", STORED, {"sigma_data": SIGMA_DATA, "order": 3}),
    ("unipc", STORED, {}),
    ("dpmpp-2m", STORED, {}),
    ("deis", STORED, {"order": 2}),
    ("euler", STORED, {}),
    ("dpmpp-2m-sde", STORED, {}),
    ("dpmpp-2m-sde", STORED, {"eta": 0.5}),
    ("heun", half, {}),
]
for sampler, g, options in runs:
    _, run = scored(model, cond, noise, score, sampler, sigmas=g, **options)
    line({"sampler": sampler, "options": options}, run, "nfe", "sigmas")

"""Issue 17, session 39: is the 10- vs 20-step faithfulness gap made by guidance? The judge's misses (the score of
`tune-grid --against faithfulness`: 800 calibration prompts, noise seeds 200000+, unipc, the pipeline's default grids)
at 10 and 20 steps for guidance 1 (none), 2 and 3 (the default: 20.375 / 17.75 in ../s38/calibration_scores.txt).
Tuning side only: nothing reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_gap_by_guidance.py > docs/measurements/grid_t2i/s39/probe_gap_by_guidance.txt
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from probes import calibration, line, scored  # noqa: E402

for guidance in (1.0, 2.0):
    model, cond, noise, score = calibration(guidance)
    for steps in (10, 20):
        _, run = scored(model, cond, noise, score, steps=steps)
        line({"guidance": guidance, "steps": steps}, run)

"""Issue 17, session 32 (docs/samplers.md, after the tau paragraph): which scale UniPC's interpolation variable
tau = 1 / sqrt(s^2 + sigma^2) takes, on mixtures of the tuning split (SW2 over the noise floor, benchmarks/samplers.py's
Problem; 2 draws, N = 2,000; NFE 5, 7, 10, 20). One JSON line per mixture. VARIANT:

- ``spread``: the default path (`unipc`, `tuned` grid), s = the sigma_data it reads ("tau") against s = the data's
  spread along its widest directions, sqrt(tr C^2 / tr C) = sigma_data sqrt(size / dim) ("spread");
- ``trailing``: `unipc` on the trailing grid, s = 1 (UniPC's default, what sample() passes off the tuned grid; "one")
  against the sigma_data read from the first evaluation ("read") and lambda (s = None, UniPC as published; "lambda").

    PYTHONPATH=src .venv/bin/python docs/measurements/tau_scale/probe.py spread FIRST-LAST > docs/measurements/tau_scale/spread_tuning_0-199.jsonl
    PYTHONPATH=src .venv/bin/python docs/measurements/tau_scale/probe.py trailing FIRST-LAST > docs/measurements/tau_scale/trailing_tuning_0-59.jsonl
"""
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import torch  # noqa: E402

import samplers as B  # noqa: E402
import difflab  # noqa: E402
from difflab.grids import data_scale_from_evaluation  # noqa: E402
from difflab.models import random_mixture  # noqa: E402

torch.set_num_threads(1)
NFES = [5, 7, 10, 20]
SMAX = float(B.SCHEDULE.ve_sigma_max)
variant = sys.argv[1]
first, last = (int(v) for v in sys.argv[2].split("-"))
if last >= 1000:
    raise SystemExit("mixtures 1000 and up are the reporting split")


def read_scale_run(nfe, spread: bool, **options):
    """unipc with tau's scale read from the first evaluation: sigma_data, or the spread."""
    def run(oracle, noise, seed):
        x = noise.to(torch.float64) * math.sqrt(1 + SMAX**2)
        r = data_scale_from_evaluation(x, B.Oracle(oracle.mix)(x, SMAX), SMAX)
        s = r.sigma_data * math.sqrt(noise[0].numel() / r.dim) if spread else r.sigma_data
        g = torch.Generator().manual_seed(2000 + seed)
        return difflab.sample(oracle, noise, "unipc", nfe, generator=g, sigma_data=s, **options)
    return run


RUNS = {"spread": {"tau": B.difflab_run("unipc"), "spread": lambda nfe: read_scale_run(nfe, True)},
        "trailing": {"one": B.difflab_run("unipc", spacing="trailing"),
                     "read": lambda nfe: read_scale_run(nfe, False, spacing="trailing"),
                     "lambda": B.difflab_run("unipc", spacing="trailing", sigma_data=None)}}[variant]
for seed in range(first, last + 1):
    mix = random_mixture(seed)
    problem = B.Problem(f"m{seed}", range(2), n=2000, mix=mix, n_proj=256)
    row = {"seed": seed, "dim": mix.dim, "modes": mix.n_components, "sigma_data": round(mix.data_std, 3)}
    for name, make in RUNS.items():
        row[name] = [round(problem.error(make(nfe))["ratio"], 3) for nfe in NFES]
    print(json.dumps(row), flush=True)

"""Probe: UniPC on the trailing grid, the interpolation variable's scale: 1 (UniPC's default, what sample()
passes off the tuned grid today), the data's sigma_data read from the first evaluation, or lambda (None).
Issue 17, session 32 (docs/samplers.md, after the tau paragraph). One JSON line per mixture:

    PYTHONPATH=src .venv/bin/python docs/measurements/tau_scale/probe_trailing.py FIRST-LAST > docs/measurements/tau_scale/trailing_tuning_0-59.jsonl
"""
import json, math, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import torch
import samplers as B
import difflab
from difflab.grids import data_scale_from_evaluation
from difflab.models import random_mixture
torch.set_num_threads(1)
NFES = [5, 7, 10, 20]
first, last = (int(v) for v in sys.argv[1].split("-"))
if last >= 1000:
    raise SystemExit("mixtures 1000 and up are the reporting split")
SMAX = float(B.SCHEDULE.ve_sigma_max)

def read_run(nfe):
    def run(oracle, noise, seed):
        x = noise.to(torch.float64) * math.sqrt(1 + SMAX**2)
        r = data_scale_from_evaluation(x, B.Oracle(oracle.mix)(x, SMAX), SMAX)
        g = torch.Generator().manual_seed(2000 + seed)
        return difflab.sample(oracle, noise, "unipc", nfe, spacing="trailing", generator=g, sigma_data=r.sigma_data)
    return run

for seed in range(first, last + 1):
    mix = random_mixture(seed)
    problem = B.Problem(f"m{seed}", range(2), n=2000, mix=mix, n_proj=256)
    row = {"seed": seed, "dim": mix.dim, "modes": mix.n_components, "sigma_data": round(mix.data_std, 3)}
    row["one"] = [round(problem.error(B.difflab_run("unipc", spacing="trailing")(nfe))["ratio"], 3) for nfe in NFES]
    row["read"] = [round(problem.error(read_run(nfe))["ratio"], 3) for nfe in NFES]
    row["lambda"] = [round(problem.error(B.difflab_run("unipc", spacing="trailing", sigma_data=None)(nfe))["ratio"], 3) for nfe in NFES]
    print(json.dumps(row), flush=True)

"""Probe: UniPC's interpolation variable on the default path (tuning mixtures only).
tau = 1/sqrt(s^2 + sigma^2) with s = the read sigma_data (now), s = the read spread sqrt(tr C^2 / tr C)
(= sigma_data sqrt(size / dim)).
Issue 17, session 32 (docs/samplers.md, after the tau paragraph). One JSON line per mixture:

    PYTHONPATH=src .venv/bin/python docs/measurements/tau_scale/probe_spread.py FIRST-LAST > docs/measurements/tau_scale/spread_tuning_0-199.jsonl
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

def spread_run(nfe):
    def run(oracle, noise, seed):
        x = noise.to(torch.float64) * math.sqrt(1 + SMAX**2)
        r = data_scale_from_evaluation(x, B.Oracle(oracle.mix)(x, SMAX), SMAX)
        s = r.sigma_data * math.sqrt(noise[0].numel() / r.dim)
        g = torch.Generator().manual_seed(2000 + seed)
        return difflab.sample(oracle, noise, "unipc", nfe, generator=g, sigma_data=s)
    return run

for seed in range(first, last + 1):
    mix = random_mixture(seed)
    problem = B.Problem(f"m{seed}", range(2), n=2000, mix=mix, n_proj=256)
    row = {"seed": seed, "dim": mix.dim, "modes": mix.n_components, "sigma_data": round(mix.data_std, 3)}
    row["tau"] = [round(problem.error(B.difflab_run("unipc")(nfe))["ratio"], 3) for nfe in NFES]
    row["spread"] = [round(problem.error(spread_run(nfe))["ratio"], 3) for nfe in NFES]
    print(json.dumps(row), flush=True)

"""Experiment (tuning mixtures only): the `tuned` grid's top inner level sigma_hi raised with the budget,
sigma_hi(steps) = sigma_hi(5) * (steps / 5) ** GAMMA (capped at sigma_max / 2 as before), the mirror image of
sigma_lo's (steps / 5) ** TUNED_DECAY. GAMMA = 0 is the shipped rule; NFE 5 is the same grid for every GAMMA.

    PYTHONPATH=src .venv/bin/python docs/measurements/top_level/sweep.py SEEDS GAMMAS [NFES]
"""
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import torch

import samplers as B
from difflab import grids
from difflab.models import random_mixture

torch.set_num_threads(1)
_original = grids.tuned_grid


def raised(gamma):
    def tuned_grid(sigma_max, steps, sigma_min=0.0, sigma_data=1.0, dim=1.0, size=None):
        g = _original(sigma_max, steps, sigma_min, sigma_data, dim, size)
        if steps <= 2 or gamma == 0:
            return g
        hi, lo = float(g[1]), float(g[-2])
        hi2 = min(hi * (steps / 5) ** gamma, sigma_max / 2)
        inner = torch.exp(torch.linspace(math.log(hi2), math.log(lo), steps - 1, dtype=torch.float64))
        return torch.cat([g[:1], inner, g[-1:]])
    return tuned_grid


seeds = [int(s) for s in sys.argv[1].split(",")] if "-" not in sys.argv[1] else list(range(*[int(v) + i for i, v in enumerate(sys.argv[1].split("-"))]))
gammas = [float(v) for v in sys.argv[2].split(",")]
nfes = [int(v) for v in sys.argv[3].split(",")] if len(sys.argv) > 3 else [10, 20]
print("seed dim modes | " + " | ".join(f"NFE {n}: " + " ".join(f"g={g:g}" for g in gammas) for n in nfes), flush=True)
for s in seeds:
    mix = random_mixture(s)
    p = B.Problem(f"m{s}", range(4), n=2000, mix=mix, n_proj=256)
    row = []
    for nfe in nfes:
        vals = []
        for g in gammas:
            grids.tuned_grid = raised(g)
            vals.append(p.error(B.difflab_run("unipc")(nfe))["ratio"])
        row.append(" ".join(f"{v:.3f}" for v in vals))
    grids.tuned_grid = _original
    print(s, mix.dim, mix.n_components, f"true {sum(p.true_draw) / 4:.2f}", "| " + " | ".join(row), flush=True)

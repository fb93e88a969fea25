"""The first jump of the `tuned` grid (sigma_max -> sigma_hi in one step): the rule's grid against
the same with sigma_hi raised (x2, x3) and against one level inserted at sqrt(sigma_max sigma_hi)
(the budget's other levels the rule's for one step fewer). Tuning mixtures, difflab alone, the
start centred on the mixture's mean (as the default's read does), common noise.

    PYTHONPATH=src:benchmarks .venv/bin/python docs/measurements/first_step/top_insert.py SEEDS DRAWS [NFES [all|insert [SAMPLER]]]
"""
import math
import sys

import torch

import samplers as B
import difflab.grids as G
from difflab.grids import make_grid
from difflab.models import random_mixture
from difflab.samplers import sample

torch.set_num_threads(1)
G.TUNED_SPLIT_STEPS = 10**9  # "the rule" here is the rule before session 35's split, which "inserted" measures
arg = sys.argv[1]
seeds = list(range(int(arg.split("-")[0]), int(arg.split("-")[1]) + 1)) if "-" in arg else [int(v) for v in arg.split(",")]
draws = int(sys.argv[2])
nfes = [int(v) for v in sys.argv[3].split(",")] if len(sys.argv) > 3 else [5, 10, 20]
VARIANTS = sys.argv[4] if len(sys.argv) > 4 else "all"  # "all" or "insert" (the rule and the inserted level only)
SAMPLER = sys.argv[5] if len(sys.argv) > 5 else "unipc"
smax = float(B.SCHEDULE.ve_sigma_max)
scale = math.sqrt(1 + smax**2)
for s in seeds:
    mix = random_mixture(s)
    C = torch.as_tensor(mix.covariance, dtype=torch.float64)
    tr, tr2, D = float(torch.trace(C)), float((C * C).sum()), mix.dim
    sd, dim = (tr / D) ** 0.5, tr * tr / tr2
    mu = torch.as_tensor(mix.mean, dtype=torch.float64)
    p = B.Problem(f"m{s}", range(draws), n=2000, mix=mix, n_proj=256)

    def rule(steps, **kw):
        return make_grid(B.SCHEDULE, steps, "tuned", sigma_data=sd, dim=dim, size=float(D), **kw)

    def raised(steps, f):
        g = rule(steps)
        hi, lo = float(g[1]), float(g[-2])
        inner = torch.exp(torch.linspace(math.log(min(f * hi, smax / 2)), math.log(lo), steps - 1, dtype=torch.float64))
        return torch.cat([g[:1], inner, g[-1:]])

    def inserted(steps):
        g = rule(steps - 1)
        return torch.cat([g[:1], torch.tensor([math.sqrt(smax * float(g[1]))], dtype=torch.float64), g[1:]])

    def run_on(grid):
        extra = {"sigma_data": sd} if SAMPLER == "unipc" else {}
        g = torch.Generator().manual_seed(2000)  # for the stochastic samplers, as benchmarks/samplers.py's runs
        return lambda o, z, seed: sample(o, z + mu / scale, SAMPLER, len(grid) - 1, sigmas=grid, generator=g.manual_seed(2000 + seed), **extra)

    row = []
    for nfe in nfes:
        grids = (rule(nfe), raised(nfe, 2), raised(nfe, 3), inserted(nfe)) if VARIANTS == "all" else (rule(nfe), inserted(nfe))
        cells = [p.error(run_on(g))["ratio"] for g in grids]
        row.append(f"{nfe}: " + " / ".join(f"{c:.3f}" for c in cells))
    true = sum(p.true_draw) / len(p.true_draw)
    print(f"{s} D={D} K={mix.n_components} hi {float(rule(10)[1]):.3g} true {true:.3f} | "
          + ("rule / hi x2 / hi x3 / inserted | " if VARIANTS == "all" else "rule / inserted | ")
          + " | ".join(row), flush=True)

"""UniPC's interpolation variable tau = 1 / sqrt(s^2 + sigma^2) with s the data's per-coordinate
scale (sigma_data, the default) or the scale of its widest directions, sqrt(tr C^2 / tr C) (the
same first evaluation reads both: sigma_data sqrt(D / d_eff)). Default grid and start otherwise.

    PYTHONPATH=src:benchmarks .venv/bin/python docs/measurements/first_step/tau_scale.py SEEDS DRAWS
"""
import sys

import torch

import samplers as B
import difflab.grids as G
from difflab.models import random_mixture

torch.set_num_threads(1)
G.TUNED_SPLIT_STEPS = 10**9  # measured before session 35's split of the first jump
arg = sys.argv[1]
seeds = list(range(int(arg.split("-")[0]), int(arg.split("-")[1]) + 1)) if "-" in arg else [int(v) for v in arg.split(",")]
draws = int(sys.argv[2])
for s in seeds:
    mix = random_mixture(s)
    C = torch.as_tensor(mix.covariance, dtype=torch.float64)
    tr, tr2 = float(torch.trace(C)), float((C * C).sum())
    wide = (tr2 / tr) ** 0.5
    p = B.Problem(f"m{s}", range(draws), n=2000, mix=mix, n_proj=256)
    row = []
    for nfe in (5, 10, 20):
        a = p.error(B.difflab_run("unipc")(nfe))["ratio"]
        b = p.error(B.difflab_run("unipc", sigma_data=wide)(nfe))["ratio"]
        row.append(f"{nfe}: {a:.3f} -> {b:.3f}")
    true = sum(p.true_draw) / len(p.true_draw)
    print(f"{s} D={mix.dim} K={mix.n_components} sigma_data {(tr / mix.dim) ** 0.5:.3g} wide {wide:.3g} true {true:.3f} | "
          + " | ".join(row), flush=True)

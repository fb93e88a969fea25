"""Tuning mixture 18 (218-d, two modes weighing 0.95 / 0.05): the default path against the converged
ODE from the same noise, and some other paths, 16 draws (session 35). The rule is taken as it was
before the split of the first jump, unless SPLIT is passed.

    PYTHONPATH=src:benchmarks .venv/bin/python docs/measurements/first_step/converged_18.py 18 16 [split]
"""
import math
import sys

import torch

import difflab.grids as G
import samplers as B
from difflab.models import random_mixture
from difflab.samplers import sample

torch.set_num_threads(1)
if "split" not in sys.argv[3:]:
    G.TUNED_SPLIT_STEPS = 10**9
s, draws = int(sys.argv[1]), int(sys.argv[2])
mix = random_mixture(s)
p = B.Problem(f"m{s}", range(draws), n=2000, mix=mix, n_proj=256)
mu = torch.as_tensor(mix.mean, dtype=torch.float64)
scale = math.sqrt(1 + float(B.SCHEDULE.ve_sigma_max) ** 2)


def centred(sampler, steps, **kw):
    return lambda o, z, seed: sample(o, z + mu / scale, sampler, steps, **kw)


print("true", round(sum(p.true_draw) / draws, 3))
for name, run in [("ODE centred log-snr 100", centred("unipc", 100, spacing="log-snr")),
                  ("ODE from 0 log-snr 100", B.difflab_run("unipc", spacing="log-snr")(100)),
                  ("default 20", B.difflab_run("unipc")(20)), ("default 50", B.difflab_run("unipc")(50)),
                  ("unipc trailing 20", B.difflab_run("unipc", spacing="trailing")(20)),
                  ("ddim trailing 20", B.difflab_run("ddim", spacing="trailing")(20)),
                  ("ddim trailing 20 centred", centred("ddim", 20, spacing="trailing")),
                  ("ddpm 100 centred", centred("ddpm", 100, spacing="trailing", generator=torch.Generator().manual_seed(1)))]:
    print(name, round(p.error(run)["ratio"], 3), flush=True)

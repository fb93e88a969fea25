"""Issue 17, session 34, tuning mixtures 0-19 only: how far apart two independent sets of true draws score
against the same references, in the benchmark's metric (benchmarks/samplers.py's Problem: sliced W2 over the
noise floor, N = 2,000, 256 directions). Set a is the benchmark's own "true draw" (seeds 6000 + s), set b
fresh (seeds 7000 + s); both against reference s (seeds 3000 + s). A deterministic sampler and a stochastic
one are compared as these two sets are: their samples are independent draws against shared references.
Per mixture: the ratio a / b of the mean over each block of 8 draws (the report's draws per cell), and
over all 32.

    PYTHONPATH=src .venv/bin/python docs/measurements/metric_noise/true_draws.py
"""
import math
import sys

import torch
sys.path.insert(0, "benchmarks")
import samplers as B
from difflab.models import random_mixture
torch.set_num_threads(1)
lr8, lr32 = [], []
for seed in range(20):
    mix = random_mixture(seed)
    p = B.Problem(f"m{seed}", range(32), n=2000, mix=mix, n_proj=256)
    a = [p.sw(mix.sample(2000, 6000 + s), p.refs[s]) for s in range(32)]
    b = [p.sw(mix.sample(2000, 7000 + s), p.refs[s]) for s in range(32)]
    r8 = [math.log(sum(a[i:i+8]) / sum(b[i:i+8])) for i in range(0, 32, 8)]
    lr8 += r8; lr32.append(math.log(sum(a) / sum(b)))
    print(seed, mix.dim, mix.n_components, [round(math.exp(x), 3) for x in r8], round(math.exp(lr32[-1]), 3), flush=True)
sd8 = math.sqrt(sum(x * x for x in lr8) / len(lr8)); sd32 = math.sqrt(sum(x * x for x in lr32) / len(lr32))
print(f"rms log-ratio of two independent true-draw means: 8 draws {sd8:.4f} ({len(lr8)} pairs), 32 draws {sd32:.4f} ({len(lr32)})")
print(f"share above 1.05: 8 draws {sum(x > math.log(1.05) for x in lr8) / len(lr8):.3f}, 32 draws {sum(x > math.log(1.05) for x in lr32) / len(lr32):.3f}")

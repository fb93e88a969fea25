"""Experiment (tuning mixtures): the tuned grid's first step sigma_max -> sigma_hi as the Gaussian probability-flow map
x1 - mu = sqrt(A + r^2 (I - A)) (x - mu), to first order in A with the coefficient exact at A's weighted mean eigenvalue,
against the default (UniPC's own first step)."""
import sys, math
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3] / "benchmarks"))
import torch
import samplers as B
from difflab.models import random_mixture
from difflab.samplers import sample
from difflab.grids import data_scale_from_evaluation, make_grid
torch.set_num_threads(1)

def jump_run(nfe):
    def run(oracle, noise, seed):
        smax = float(B.SCHEDULE.ve_sigma_max)
        x = noise * math.sqrt(1 + smax * smax)
        d = oracle(x, smax)
        read = data_scale_from_evaluation(x, d, smax)
        mu = read.mean.reshape(x.shape[1:]).to(x)
        x, d = x + mu, d + read.slope * mu
        size = float(x[0].numel())
        grid = make_grid(B.SCHEDULE, nfe, "tuned", sigma_data=read.sigma_data, dim=read.dim, size=size)
        r = float(grid[1]) / smax
        xc, dc = x - mu, d - mu
        beta = read.slope
        q = float((dc * dc).sum() / (xc * xc).sum())
        a = q / beta
        k = (1 - r * r) / (r * r)
        c = r * (math.sqrt(1 + k * a) - 1) / a
        x1 = mu + r * xc + c * dc
        s1 = float(grid[1])
        return sample(oracle, x1 / math.sqrt(1 + s1 * s1), "unipc", nfe - 1, sigmas=grid[1:], sigma_data=read.sigma_data)
    return run

seeds = [int(s) for s in sys.argv[1].split(",")]
nfes = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [5, 10, 20]
for s in seeds:
    mix = random_mixture(s)
    p = B.Problem(f"m{s}", range(4), n=2000, mix=mix, n_proj=256)
    row = []
    for nfe in nfes:
        a = p.error(B.difflab_run("unipc")(nfe))["ratio"]
        b = p.error(jump_run(nfe))
        row.append(f"{nfe}: {a:.3f} -> {b['ratio']:.3f} (nfe {b['nfe']})")
    print(s, mix.dim, mix.n_components, f"sd {mix.data_std:.3g} true {sum(p.true_draw)/4:.2f}", " | ".join(row), flush=True)

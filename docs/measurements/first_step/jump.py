"""Experiment (tuning mixtures): the tuned grid's first step sigma_max -> sigma_hi as the Gaussian probability-flow map
x1 - mu = sqrt(A + r^2 (I - A)) (x - mu), to first order in A with the coefficient exact at A's weighted mean eigenvalue
tr A^2 / tr A, against the default (UniPC's own first step). Then UniPC runs from sigma_hi afresh, or with ``history``
(a fourth argument "history") keeping D(sigma_max) as a node of its next steps (no corrector for the replaced step).

    PYTHONPATH=src .venv/bin/python docs/measurements/first_step/jump.py SEEDS NFES [history]
"""
import sys, math
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3] / "benchmarks"))
import torch
import samplers as B
from difflab.models import random_mixture
from difflab.samplers import sample
from difflab.grids import data_scale_from_evaluation, make_grid
from difflab.samplers._common import levels, weighted_sum
from difflab.samplers.dpm_solver import _lam, multistep_weights, _extrapolate_to_zero
torch.set_num_threads(1)

def unipc_from(denoiser, x, x_prev, d0, sigmas, order=3, sigma_data=1.0):
    s = levels(sigmas)
    lams = [_lam(v) if v > 0 else math.inf for v in s]
    pw, cw = multistep_weights(lams, order, True, True, sigma_data)
    history = [d0]
    for i in range(1, len(s) - 1):
        x0 = denoiser(x, s[i])
        if i > 1:
            x = weighted_sum(x_prev, math.exp(lams[i - 1] - lams[i]), cw[i], [x0, *history])
        history.insert(0, x0)
        del history[order:]
        if s[i + 1] == 0:
            k = min(2, order, len(history))
            return _extrapolate_to_zero(lams[i::-1][:k], history[:k], sigma_data)
        x_prev = x
        x = weighted_sum(x, s[i + 1] / s[i], pw[i], history)
    return x

def jump_run(nfe, history=False):
    def run(oracle, noise, seed):
        smax = float(B.SCHEDULE.ve_sigma_max)
        x = noise * math.sqrt(1 + smax * smax)
        d = oracle(x, smax)
        read = data_scale_from_evaluation(x, d, smax)
        mu = read.mean.reshape(x.shape[1:]).to(x)
        x, d = x + mu, d + read.slope * mu
        grid = make_grid(B.SCHEDULE, nfe, "tuned", sigma_data=read.sigma_data, dim=read.dim, size=float(x[0].numel()))
        r = float(grid[1]) / smax
        xc, dc = x - mu, d - mu
        k = (1 - r * r) / (r * r)
        a = float((dc * dc).sum() / (xc * dc).sum())
        x1 = mu + r * xc + r * (math.sqrt(1 + k * a) - 1) / a * dc
        if history:
            return unipc_from(oracle, x1, x, d, grid, sigma_data=read.sigma_data)
        s1 = float(grid[1])
        return sample(oracle, x1 / math.sqrt(1 + s1 * s1), "unipc", nfe - 1, sigmas=grid[1:], sigma_data=read.sigma_data)
    return run


seeds = [int(s) for s in sys.argv[1].split(",")]
nfes = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [5, 10, 20]
history = len(sys.argv) > 3 and sys.argv[3] == "history"
for s in seeds:
    mix = random_mixture(s)
    p = B.Problem(f"m{s}", range(4), n=2000, mix=mix, n_proj=256)
    row = []
    for nfe in nfes:
        a = p.error(B.difflab_run("unipc")(nfe))["ratio"]
        b = p.error(jump_run(nfe, history))
        row.append(f"{nfe}: {a:.3f} -> {b['ratio']:.3f} (nfe {b['nfe']})")
    print(s, mix.dim, mix.n_components, f"sd {mix.data_std:.3g} true {sum(p.true_draw)/4:.2f}", " | ".join(row), flush=True)

"""Session 30: why tuning mixture 144 (5-d, 2 modes weighted 0.016 / 0.984) scores about 2.2 at every budget and order
on the default path: the one step from sigma_max to the grid's first level (1.89 here), not the order or the start.

    PYTHONPATH=src .venv/bin/python docs/measurements/adaptive_order/mixture144.py
"""
import sys, math
sys.path.insert(0, "benchmarks")
import torch, difflab
import samplers as B
from difflab.models import random_mixture
torch.set_num_threads(1)
mix = random_mixture(144)
p = B.Problem("m144", range(2), n=2000, mix=mix, n_proj=256)
print("weights", [round(float(w), 3) for w in mix.weights], "means norm", mix.means.norm(dim=1).tolist()[:4], "sd", mix.data_std)
for label, run in {
    "default 20": B.difflab_run("unipc")(20),
    "default 200": B.difflab_run("unipc")(200),
    "trailing 200": B.difflab_run("unipc", spacing="trailing")(200),
    "log-snr 200": B.difflab_run("unipc", spacing="log-snr")(200),
    "ddpm 500": B.difflab_run("ddpm")(500),
}.items():
    print(label, round(p.error(run)["ratio"], 3), flush=True)
from difflab.grids import make_grid, data_scale_from_evaluation
smax = float(B.SCHEDULE.ve_sigma_max)
x = torch.randn(2000, mix.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * math.sqrt(1 + smax**2)
read = data_scale_from_evaluation(x, mix.denoiser(B.SCHEDULE)(x, smax), smax)
print("read sigma_data", read.sigma_data, "dim", read.dim, "mean", read.mean.flatten().tolist())
g = make_grid(B.SCHEDULE, 200, "tuned", sigma_data=read.sigma_data, dim=read.dim, size=float(mix.dim))
print("grid top", g[:4].tolist())
def explicit(grid):
    def run(oracle, noise, seed):
        return difflab.sample(oracle, noise, "unipc", len(grid) - 1, sigmas=grid)
    return run
print("tuned 200, explicit (start at 0)", round(p.error(explicit(g))["ratio"], 3))
g2 = torch.cat([torch.exp(torch.linspace(math.log(smax), math.log(float(g[1])), 30, dtype=torch.float64))[:-1], g[1:]])
print("tuned 200 + 29 levels above sigma_hi (start at 0)", round(p.error(explicit(g2))["ratio"], 3))

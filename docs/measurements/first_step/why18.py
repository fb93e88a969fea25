import sys, math
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3] / "benchmarks"))
import torch
import samplers as B
from difflab.models import random_mixture
from difflab.samplers import sample
torch.set_num_threads(1)
for s in [int(x) for x in sys.argv[1].split(",")]:
    mix = random_mixture(s)
    p = B.Problem(f"m{s}", range(4), n=2000, mix=mix, n_proj=256)
    mu = torch.as_tensor(mix.mean, dtype=torch.float64)
    def grid_run(lo, n=200, sampler="unipc", centre=False):
        def run(oracle, noise, seed):
            hi = float(B.SCHEDULE.ve_sigma_max)
            sig = torch.cat([torch.exp(torch.linspace(math.log(hi), math.log(lo), n, dtype=torch.float64)), torch.zeros(1, dtype=torch.float64)])
            if not centre:
                return sample(oracle, noise, sampler, n, sigmas=sig, generator=seed)
            x = mu + noise * hi  # start on the data mean
            return sample(oracle, (x / math.sqrt(1 + hi * hi)), sampler, n, sigmas=sig, generator=seed)
        return run
    out = {"true": sum(p.true_draw) / 4, "|mu|": float(mu.norm()) if mu is not None else -1}
    out["ode"] = p.error(grid_run(0.01))["ratio"]
    out["ode centred"] = p.error(grid_run(0.01, centre=True))["ratio"]
    out["ode centred lo1e-4"] = p.error(grid_run(1e-4, centre=True))["ratio"]
    out["sde lo1e-4"] = p.error(grid_run(1e-4, 200, "dpmpp-2m-sde"))["ratio"]
    out["default20"] = p.error(B.difflab_run("unipc")(20))["ratio"]
    print(s, mix.dim, mix.n_components, round(float(mix.data_std), 3), {k: round(v, 3) for k, v in out.items()}, flush=True)

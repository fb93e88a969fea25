import sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3] / "benchmarks"))
import torch
import samplers as B
from difflab.models import random_mixture
from difflab.samplers import sample
torch.set_num_threads(1)
s = int(sys.argv[1])
mix = random_mixture(s)
p = B.Problem(f"m{s}", range(4), n=2000, mix=mix, n_proj=256)
mu = torch.as_tensor(mix.mean, dtype=torch.float64)
o = B.Oracle(mix)
noise = p.noise[0]
x, info = sample(o, noise, "unipc", 20, return_info=True)
print("read mu err", float((info.start_mean - mu).norm()), "|mu|", float(mu.norm()), "sd", info.sigma_data, info.sigma_data_source, "dim", info.dim)
print("grid", [round(float(v), 4) for v in info.sigmas])
for n in (20, 50, 100, 200):
    print(n, round(p.error(B.difflab_run("unipc")(n))["ratio"], 3), flush=True)

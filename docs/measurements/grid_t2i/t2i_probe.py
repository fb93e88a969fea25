"""Tuning-prompt probe (prompt seed 12345, not the reported prompts): single-object faithfulness of the
shipped text-to-image pipeline at 10 steps under several grids, beside 20 steps."""
import json, sys, time, math
import torch
from difflab.pipelines.text_to_image import TextToImagePipeline
from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_judge import judge_batch

torch.set_num_threads(1)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
KIND = sys.argv[2] if len(sys.argv) > 2 else "single"
only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
pipe = TextToImagePipeline.load(str(__import__("difflab.pipelines.text_to_image", fromlist=["x"]).shipped_model_path()))
items = eval_prompts(N, KIND, 12345)
prompts, attrs = [p for p, _ in items], [a for _, a in items]
STORED = json.load(open(__import__("difflab.pipelines.text_to_image", fromlist=["x"]).shipped_model_path() / "denoiser/grids.json"))["grids"]
smax = float(pipe.denoiser.schedule.ve_sigma_max)

def loggrid(hi, lo, n):  # smax, then n-1 levels log-uniform hi..lo, then 0
    return torch.tensor([smax] + [math.exp(math.log(hi) + (math.log(lo) - math.log(hi)) * i / (n - 2)) for i in range(n - 1)] + [0.0], dtype=torch.float64)

configs = {
    "unipc20 rule": dict(sampler="unipc", steps=20),
    "unipc10 stored": dict(sampler="unipc", steps=10),
    "unipc10 rule": dict(sampler="unipc", steps=10, spacing="tuned"),
    "dpmpp-2m10 stored": dict(sampler="dpmpp-2m", steps=10),
    "unipc10 hi8": dict(sampler="unipc", steps=10, sigmas=loggrid(8, 0.063, 10)),
    "unipc10 hi16": dict(sampler="unipc", steps=10, sigmas=loggrid(16, 0.063, 10)),
    "unipc10 lo.02": dict(sampler="unipc", steps=10, sigmas=loggrid(4, 0.02, 10)),
    "unipc14 rule": dict(sampler="unipc", steps=14, spacing="tuned"),
    "ddim10 trailing": dict(sampler="ddim", steps=10, spacing="trailing"),
    "unipc10 on dpmpp grid": dict(sampler="unipc", steps=10, sigmas=torch.tensor(STORED["dpmpp-2m"]["10"]["sigmas"], dtype=torch.float64)),
    "unipc10 hi2": dict(sampler="unipc", steps=10, sigmas=loggrid(2, 0.063, 10)),
    "unipc10 hi3.2 lo.06": dict(sampler="unipc", steps=10, sigmas=loggrid(3.2, 0.06, 10)),
    "dpmpp-2m10 rule": dict(sampler="dpmpp-2m", steps=10, spacing="tuned"),
    "dpmpp-2m20 stored": dict(sampler="dpmpp-2m", steps=20),
    "unipc10 order1": dict(sampler="unipc", steps=10, order=1),
    "unipc10 order2 rule": dict(sampler="unipc", steps=10, order=2, spacing="tuned"),
    "unipc10 order2 stored": dict(sampler="unipc", steps=10, order=2),
    "unipc20 order2 rule": dict(sampler="unipc", steps=20, order=2),
}
out = {}
for name, kw in configs.items():
    if only and name not in only:
        continue
    t = time.time()
    imgs = torch.cat([pipe(prompts[i:i + 100], seed=i, output="tensor", **kw) for i in range(0, N, 100)])
    j = judge_batch(imgs, attrs)
    out[name] = {k: round(v, 4) for k, v in j.items() if isinstance(v, float)}
    print(f"{name:22s} {time.time() - t:5.0f}s", out[name], flush=True)
json.dump(out, open(f"t2i_probe_{KIND}_{N}_{len(out)}.json", "w"), indent=1)

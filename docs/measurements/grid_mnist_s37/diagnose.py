"""Issue 17, session 37: where the tuning and report scores of the MNIST-5k model's 10-step grids part.

Each grid's samples from two noise sets -- the calibration noise of `tune-grid` (seeds 200000+, n 500)
and the report's (`difflab eval --seed 100000 -n 1000`, sample i from seed 100000 + i) -- scored against
two reference sets: the tuning fold (its own classifier, `frechet_objective`) and the held-out split
(the report's classifier, as `difflab eval`). A diagnosis of the session-36 disagreement, run after
that report: nothing here chooses a grid.
  PYTHONPATH=src .venv/bin/python docs/measurements/grid_mnist_s37/diagnose.py runs/s36/ttq/difflab-cond/snap-15min
"""
import json
import sys
from pathlib import Path

import torch

from difflab.data.images import train_test
from difflab.evaluate.images import frechet_objective, generate_images
from difflab.io.folders import load_model
from difflab.metrics.classifier import feature_classifier
from difflab.metrics.frechet import frechet_from_stats, gaussian_stats
from difflab.pipelines.image import ImagePipeline
from difflab.samplers import sample
from difflab.tensors import randn

torch.set_num_threads(2)
here = Path(__file__).parent
denoiser, config = load_model(sys.argv[1])
pipe = ImagePipeline(denoiser, config)
model, shape, cond = pipe.calibration(500, guidance=1.0)
noise = randn(shape, 200000)
_, test = train_test(pipe.data["name"])
net, _ = feature_classifier(pipe.data, progress=False)
ref = gaussian_stats(net.embed(test.images)[0])


def fd_test(x):
    return frechet_from_stats(*gaussian_stats(net.embed(x)[0]), *ref)


fd_fold = frechet_objective(pipe.data)
stored = json.loads((here.parent / "grid_mnist_s36" / "grids-data.json").read_text())["grids"]["unipc"]["10"]
runs = {rule: {"spacing": rule} for rule in ("trailing", "log-snr", "tuned")}
runs["data-tuned s36"] = {"sigmas": torch.tensor(stored["sigmas"], dtype=torch.float64), **stored["options"]}
print("10 steps         calibration noise (500)     report noise (1000)")
print("grid             fd-fold   fd-held-out       fd-fold   fd-held-out")
for name, kw in runs.items():
    cal = sample(model, noise, "unipc", 10, cond=cond, **kw).float().clamp(-1, 1)
    if "sigmas" in kw:
        rep, _, _ = generate_images(ImagePipeline(denoiser, config), 1000, sampler="unipc", steps=10, guidance=1.0,
                                    seed=100000, progress=False, sigmas=kw["sigmas"], sigma_data=kw["sigma_data"])
    else:
        rep, _, _ = generate_images(pipe, 1000, sampler="unipc", steps=10, guidance=1.0, seed=100000,
                                    progress=False, **kw)
    print(f"{name:<15} {fd_fold(cal):9.3f} {fd_test(cal):11.3f}     {fd_fold(rep):9.3f} {fd_test(rep):11.3f}", flush=True)

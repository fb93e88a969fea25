"""Issue 17, session 37: do the tuning scores rank the MNIST-5k model's grids as the report does?

For the fixed rules (trailing, karras, log-snr, the sampler's rule) and the grids stored by the
session-36 data-tuned search, at 5 and 10 steps: the calibration samples of `difflab tune-grid`
(n 500, seeds 200000+, guidance 1, unipc) scored by
  fd-train : FD to the whole training split in the eval classifier's features (session 36's objective),
  fd-folds : the mean over the 9 tuning folds of the FD to the fold in a classifier of the rest
             (`frechet_objective`, session 37), on the same 500 samples and on 1000 (seeds 200000+ too).
The report's held-out FD of each grid (`difflab eval`, seeds 100000+, n 1000) is read from session 36's
JSON files. Run:
  PYTHONPATH=src .venv/bin/python docs/measurements/grid_mnist_s37/rank.py runs/s36/ttq/difflab-cond/snap-15min
"""
import json
import sys
from pathlib import Path

import torch

from difflab.data.images import train_test
from difflab.evaluate.images import frechet_objective
from difflab.io.folders import load_model
from difflab.metrics.classifier import feature_classifier
from difflab.metrics.frechet import frechet_from_stats, gaussian_stats
from difflab.pipelines.image import ImagePipeline
from difflab.samplers import sample
from difflab.tensors import randn

torch.set_num_threads(2)
here = Path(__file__).parent
s36 = here.parent / "grid_mnist_s36"
denoiser, config = load_model(sys.argv[1])
pipe = ImagePipeline(denoiser, config)
model, shape, cond = pipe.calibration(1000, guidance=1.0)
noise = randn(shape, 200000)
train, _ = train_test(pipe.data["name"])
net, _ = feature_classifier(pipe.data, progress=False)
ref = gaussian_stats(net.embed(train.images)[0])


def fd_train(x):
    return frechet_from_stats(*gaussian_stats(net.embed(x)[0]), *ref)


fd_fold = frechet_objective(pipe.data, progress=False)
stored = json.loads((s36 / "grids-data.json").read_text())["grids"]["unipc"]
rows = []
for steps in (5, 10):
    runs = {rule: {"spacing": rule} for rule in ("trailing", "karras", "log-snr", "tuned")}
    runs["data-tuned s36"] = {"sigmas": torch.tensor(stored[str(steps)]["sigmas"], dtype=torch.float64),
                              **stored[str(steps)]["options"]}
    for name, kw in runs.items():
        x = sample(model, noise, "unipc", steps, cond=cond, **kw).float().clamp(-1, 1)
        if not torch.equal(noise[:500], randn((500, *shape[1:]), 200000)):
            raise SystemExit("the first 500 of 1000 calibration draws are not the 500 of tune-grid -n 500")
        report = s36 / (f"fixed-{name}-{steps}.json" if name != "data-tuned s36" else f"data-{steps}.json")
        held = json.loads(report.read_text())["fd"]
        rows.append((steps, name, fd_train(x[:500]), fd_fold(x[:500]), fd_fold(x), held))
        print(f"{steps:>3} {name:<15} n=500: fd-train {rows[-1][2]:9.3f}  fd-folds {rows[-1][3]:9.3f}   "
              f"n=1000: fd-folds {rows[-1][4]:9.3f}   report: held-out {held:9.3f}", flush=True)
print(fd_fold.name)

"""Issue 17, session 40: can any linear multistep solver on the stored 10-step grid do better than UniPC? The best
linear combination of the evaluations made so far, fitted by least squares at every level to a fine solve's trajectory
(the same noise, 20 UniPC steps between each two levels of the stored grid), is the most any solver whose update is
linear in its evaluations can take from them, level by level: UniPC, DEIS, DPM-Solver-v3's empirical coefficients (Zheng et al. 2023)
and bespoke non-stationary solvers (Shaul et al. 2024) all are. Fitted on 128 calibration latents (prompt stream
7000017, noise seeds 200000+), plainly (least squares) and per sample (iteratively reweighted: the mean of log squared
errors, the PSNR loss of bespoke solvers), and the reweighted fit then trained end to end as bespoke solvers are;
then the judge's misses on 800 calibration prompts. Tuning side only.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s40/probe_fitted.py > docs/measurements/grid_t2i/s40/probe_fitted.txt
"""
import json
import math

import torch

from difflab.evaluate.text_to_image import faithfulness_objective
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
from difflab.samplers import sample
from difflab.tensors import randn

FIT, JUDGED, SEED, SUBSTEPS, EPOCHS, BATCH = 128, 800, 200000, 20, 30, 32
pipe = TextToImagePipeline.load(shipped_model_path())
stored = pipe.denoiser.grids[("unipc", 10)]
grid, sigma_data = [float(v) for v in stored["sigmas"]], stored["options"]["sigma_data"]
steps = len(grid) - 1

# the fine solve through every level of the stored grid, and its state at each
fine, marks = [], []
for a, b in zip(grid[:-1], grid[1:]):
    marks.append(len(fine))
    end, count = (b, SUBSTEPS) if b > 0 else (0.002, SUBSTEPS + 1)
    fine += [math.exp(math.log(a) + (math.log(end) - math.log(a)) * k / SUBSTEPS) for k in range(count)]
fine.append(0.0)
model, shape, cond = pipe.calibration(FIT, guidance=3.0)
noise = randn(shape, SEED)
states = {}
with torch.no_grad():
    reference = sample(model, noise, "unipc", len(fine) - 1, sigmas=torch.tensor(fine, dtype=torch.float64), cond=cond,
                       callback=lambda d: states.__setitem__(d["i"], d["x"].clone()), sigma_data=sigma_data)
    unipc = sample(model, noise, "unipc", 10, cond=cond)
targets = [states[m] for m in marks[1:]] + [reference]


def fit_level(features, target, reweightings, per_channel):
    """Coefficients c of sum_j c_j features[j] nearest target; each reweighting divides each sample's weight by its
    squared error (iteratively reweighted least squares for the mean of log squared errors). ``per_channel``: one
    set of coefficients and a constant (the ``1`` feature) per latent channel, as DPM-Solver-v3's per-dimension
    coefficients and bias, here per channel: shape (channels, features + 1)."""
    if per_channel:
        cs = [fit_level([v[:, k] for v in features] + [torch.ones_like(target[:, k])], target[:, k], reweightings, False)
              for k in range(target.shape[1])]
        return torch.tensor(cs, dtype=torch.float64)
    f = torch.stack([v.flatten().double() for v in features], 1)
    y = target.flatten().double()
    per = f.shape[0] // len(target)
    w = torch.ones(len(target), dtype=torch.float64)
    for _ in range(reweightings + 1):
        a = f * w.repeat_interleave(per).sqrt()[:, None]
        norm = a.norm(dim=0).clamp_min(1e-30)
        c = torch.linalg.lstsq(a / norm, (y * w.repeat_interleave(per).sqrt())[:, None]).solution[:, 0] / norm
        w = 1.0 / (((f @ c - y) ** 2).reshape(len(target), -1).mean(1) + 1e-6)
    return c.tolist()


def combine(coefs, features):
    if isinstance(coefs, torch.Tensor):  # per channel, with a constant
        c = coefs.to(features[0].dtype)[None, :, :, None, None]
        return sum(c[:, :, j] * v for j, v in enumerate(features)) + c[:, :, -1]
    return sum(c * v for c, v in zip(coefs, features))


def run(model, noise, cond, coefs):
    """The fitted solver: evaluation point i = c_i . (x_T, D_0 .. D_{i-1}), the output c_n . (x_T, D_0 .. D_{n-1})."""
    features = [noise * math.sqrt(1 + grid[0] ** 2)]
    for i in range(steps):
        x = features[0] if i == 0 else combine(coefs[i - 1], features)
        features.append(model(x, grid[i], **cond))
    return combine(coefs[-1], features)


def quantiles(x):
    rms = ((x - reference) ** 2).flatten(1).mean(1).sqrt()
    return [round(float(v), 4) for v in torch.quantile(rms, torch.tensor([0.25, 0.5, 0.75, 0.9]))]


fits = {}
with torch.no_grad():
    for name, reweightings, per_channel in (("least squares", 0, False), ("reweighted (log loss)", 5, False),
                                            ("reweighted, per channel with a constant", 5, True)):
        features, coefs = [noise * math.sqrt(1 + grid[0] ** 2)], []
        for i in range(steps):
            if i > 0:
                coefs.append(fit_level(features, targets[i - 1], reweightings, per_channel))
            x = features[0] if i == 0 else combine(coefs[-1], features)
            features.append(model(x, grid[i], **cond))
        coefs.append(fit_level(features, targets[-1], reweightings, per_channel))
        fits[name] = coefs
        last = coefs[-1][0].tolist() if per_channel else coefs[-1]
        print(json.dumps({"fit": name, "rms_to_fine_solve_quantiles_25_50_75_90": quantiles(run(model, noise, cond, coefs)),
                          "last_level_coefficients" + (" (channel 0)" if per_channel else ""): [round(c, 4) for c in last]}),
              flush=True)
    print(json.dumps({"fit": "unipc (the stored grid)", "rms_to_fine_solve_quantiles_25_50_75_90": quantiles(unipc)}))

# end to end, as bespoke solvers are trained (Shaul et al. 2024): the reweighted fit's coefficients moved together,
# through the ten evaluations, for the mean log squared distance of the output to the fine solve's end (the evaluation
# points are free to leave the trajectory); Adam on minibatches of 32, the network frozen
for p in pipe.denoiser.net.parameters():
    p.requires_grad_(False)
start = fits["reweighted (log loss)"]
# each coefficient moves in units of its own size: x_T's by sigma_i / sigma_0 (its size on the way down), D's by 0.1
units = [torch.tensor([grid[i + 1] / grid[0] if grid[i + 1] > 0 else 1e-6] + [0.1] * (len(c) - 1), dtype=torch.float64)
         for i, c in enumerate(start)]
deltas = [torch.zeros(len(c), dtype=torch.float64, requires_grad=True) for c in start]
optimizer = torch.optim.Adam(deltas, lr=1e-2)
generator = torch.Generator().manual_seed(0)
for epoch in range(EPOCHS):
    order, total = torch.randperm(FIT, generator=generator), 0.0
    for batch in order.split(BATCH):
        coefs = [[v for v in (torch.tensor(c, dtype=torch.float64) + d * u).float()] for c, d, u in zip(start, deltas, units)]
        x = run(model, noise[batch], {k: v[batch] for k, v in cond.items()}, coefs)
        loss = ((x - reference[batch]) ** 2).flatten(1).mean(1).log().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(batch) / FIT
    print(json.dumps({"end_to_end_epoch": epoch, "mean_log_squared_error": round(total, 4)}), flush=True)
with torch.no_grad():
    fits["end to end (from the reweighted fit)"] = [(torch.tensor(c, dtype=torch.float64) + d * u).tolist()
                                                    for c, d, u in zip(start, deltas, units)]
    print(json.dumps({"fit": "end to end (from the reweighted fit)", "rms_to_fine_solve_quantiles_25_50_75_90":
                      quantiles(run(model, noise, cond, fits["end to end (from the reweighted fit)"]))}), flush=True)
    model, shape, cond = pipe.calibration(JUDGED, guidance=3.0)
    score = faithfulness_objective(pipe, JUDGED)
    noise = randn(shape, SEED)
    for name, coefs in fits.items():
        print(json.dumps({"solver": name, "misses_percent": round(score(run(model, noise, cond, coefs)), 3)}), flush=True)
    print(json.dumps({"solver": "unipc (the stored grid)", "misses_percent": round(score(sample(model, noise, "unipc", 10, cond=cond)), 3)}))

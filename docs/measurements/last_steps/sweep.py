"""Issue 17, session 31: UniPC's last steps against diffusers' UniPC, one change at a time (VARIANT):

- ``one_more``: difflab's `lower_order_final` lets step i (0-based, of n) use at most n - 1 - i outputs (the
  step before the last at order 1); diffusers' UniPC allows n - i (at 5 steps its orders run 1, 2, 3, 2, 1
  against difflab's 1, 2, 2, 1, then the step to sigma = 0);
- ``last_output``: with the data's scale known (sigma_data; the default path) difflab ends on the interpolant
  of the last two outputs in tau, evaluated at sigma = 0; diffusers' UniPC (x0 prediction) returns the last
  output D itself.

Each against the shipped code ("now"), on the default path (`unipc`, per-sample order, `tuned` grid) and on
`trailing`, on mixtures of the tuning split at NFE 5, 7, 10 and 20: SW2 over the noise floor
(benchmarks/samplers.py's Problem; 2 draws, N = 2,000). One JSON line per mixture.

    PYTHONPATH=src .venv/bin/python docs/measurements/last_steps/sweep.py VARIANT FIRST-LAST > OUT.jsonl
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import torch  # noqa: E402

import samplers as B  # noqa: E402
import difflab.samplers.dpm_solver as M  # noqa: E402
from difflab.models import random_mixture  # noqa: E402


def one_more(steps, order, lower_order_final):
    return [min(order, i + 1, steps - i) if lower_order_final else min(order, i + 1) for i in range(steps)]


def last_output(lams, outputs, sigma_data):
    return outputs[0]


VARIANTS = {"one_more": ("_node_counts", one_more), "last_output": ("_extrapolate_to_zero", last_output)}
torch.set_num_threads(1)
NFES = [5, 7, 10, 20]
variant = sys.argv[1]
attribute, replacement = VARIANTS[variant]
first, last = (int(v) for v in sys.argv[2].split("-"))
if last >= 1000:
    raise SystemExit("mixtures 1000 and up are the reporting split")
shipped = getattr(M, attribute)
for seed in range(first, last + 1):
    mix = random_mixture(seed)
    problem = B.Problem(f"m{seed}", range(2), n=2000, mix=mix, n_proj=256)
    row = {"seed": seed, "dim": mix.dim, "modes": mix.n_components, "sigma_data": round(mix.data_std, 3)}
    for rule, function in (("now", shipped), (variant, replacement)):
        setattr(M, attribute, function)
        for name, options in (("default", {}), ("trailing", {"spacing": "trailing"})):
            row[f"{name}_{rule}"] = [round(problem.error(B.difflab_run("unipc", **options)(nfe))["ratio"], 3)
                                     for nfe in NFES]
    setattr(M, attribute, shipped)
    print(json.dumps(row), flush=True)

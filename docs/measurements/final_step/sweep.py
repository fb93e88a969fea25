"""Issue 17, session 31: UniPC's step to sigma = 0. With the data's scale known (sigma_data; the default
path), difflab ends on the interpolant of the last two outputs in tau, evaluated at sigma = 0; diffusers'
UniPC (x0 prediction) returns the last output D itself, as difflab does without sigma_data. Both on the
default path (`unipc`, per-sample order, `tuned` grid) and on `trailing`, on mixtures of the tuning split at
NFE 5, 7, 10 and 20: SW2 over the noise floor (benchmarks/samplers.py's Problem; 2 draws, N = 2,000).
One JSON line per mixture.

    PYTHONPATH=src .venv/bin/python docs/measurements/final_step/sweep.py FIRST-LAST > OUT.jsonl
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import torch  # noqa: E402

import samplers as B  # noqa: E402
import difflab.samplers.dpm_solver as M  # noqa: E402
from difflab.models import random_mixture  # noqa: E402

torch.set_num_threads(1)
NFES = [5, 7, 10, 20]
first, last = (int(v) for v in sys.argv[1].split("-"))
if last >= 1000:
    raise SystemExit("mixtures 1000 and up are the reporting split")
shipped = M._extrapolate_to_zero


def last_output(lams, outputs, sigma_data):
    return outputs[0]


for seed in range(first, last + 1):
    mix = random_mixture(seed)
    problem = B.Problem(f"m{seed}", range(2), n=2000, mix=mix, n_proj=256)
    row = {"seed": seed, "dim": mix.dim, "modes": mix.n_components, "sigma_data": round(mix.data_std, 3)}
    for rule, final in (("now", shipped), ("last_output", last_output)):
        M._extrapolate_to_zero = final
        for name, options in (("default", {}), ("trailing", {"spacing": "trailing"})):
            row[f"{name}_{rule}"] = [round(problem.error(B.difflab_run("unipc", **options)(nfe))["ratio"], 3)
                                     for nfe in NFES]
    M._extrapolate_to_zero = shipped
    print(json.dumps(row), flush=True)

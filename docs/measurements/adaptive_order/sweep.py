"""Issue 17, session 30: UniPC's per-sample order (`adaptive_order`, the default) against the fixed order 3 and
order 2, on the default path (`tuned` grid, read data scale, centred start), on mixtures of the tuning split,
at NFE 5, 7, 10, 14 and 20: SW2 over the noise floor (benchmarks/samplers.py's Problem; 2 draws, N = 2,000).
One JSON line per mixture; `summary.py` condenses them.

    PYTHONPATH=src .venv/bin/python docs/measurements/adaptive_order/sweep.py FIRST-LAST [reporting] > OUT.jsonl

Mixtures 1000 and up are the reporting split: they need the word `reporting`, and were run once, after the rule
was fixed (session 30: 6000-6019).
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import torch  # noqa: E402

import samplers as B  # noqa: E402
from difflab.models import random_mixture  # noqa: E402

torch.set_num_threads(1)
NFES = [5, 7, 10, 14, 20]
CONFIGS = {"adaptive": {}, "order3": {"adaptive_order": False}, "order2": {"order": 2}}
first, last = (int(v) for v in sys.argv[1].split("-"))
if last >= 1000 and sys.argv[2:] != ["reporting"]:
    raise SystemExit("mixtures 1000 and up are the reporting split: add the word reporting to run them")
for seed in range(first, last + 1):
    mix = random_mixture(seed)
    problem = B.Problem(f"m{seed}", range(2), n=2000, mix=mix, n_proj=256)
    row = {"seed": seed, "dim": mix.dim, "modes": mix.n_components, "sigma_data": round(mix.data_std, 3),
           "true_draw": round(sum(problem.true_draw) / len(problem.true_draw), 3)}
    for name, options in CONFIGS.items():
        row[name] = [round(problem.error(B.difflab_run("unipc", **options)(nfe))["ratio"], 3) for nfe in NFES]
    print(json.dumps(row), flush=True)

"""Summarise top_insert.py logs: per NFE, the inserted level against the rule, over all mixtures and
over those whose first level the spread term sets (TUNED_SPREAD sqrt(tr C^2 / tr C) above
TUNED_TOP sigma_data sqrt(d_eff)): geometric mean of inserted / rule, mixtures >5 % better / worse.

    PYTHONPATH=src .venv/bin/python docs/measurements/first_step/top_insert_summary.py LOG [LOG ...]
"""
import math
import re
import sys

import torch

from difflab.grids import TUNED_SPREAD, TUNED_TOP
from difflab.models import random_mixture


def spread_sets_top(seed: int) -> bool:
    C = torch.as_tensor(random_mixture(seed).covariance, dtype=torch.float64)
    tr, tr2, D = float(torch.trace(C)), float((C * C).sum()), C.shape[0]
    sd, dim = math.sqrt(tr / D), tr * tr / tr2
    return TUNED_SPREAD * math.sqrt(tr2 / tr) > TUNED_TOP * sd * math.sqrt(dim)


rows = {}  # nfe -> list of (seed, rule, inserted)
for path in sys.argv[1:]:
    for line in open(path):
        if line.startswith("#"):
            continue
        seed = int(line.split()[0])
        for nfe, cells in re.findall(r"\| (\d+): ([\d./ ]+)", line):
            v = [float(c) for c in cells.split("/")]
            rows.setdefault(int(nfe), []).append((seed, v[0], v[-1]))
spread = {s: spread_sets_top(s) for s in {r[0] for rs in rows.values() for r in rs}}
print(f"mixtures: {len(spread)}, first level set by the spread term: {sum(spread.values())} ({sorted(s for s, v in spread.items() if v)})")
for nfe in sorted(rows):
    for name, keep in (("all", lambda s: True), ("spread sets the top", lambda s: spread[s]), ("top term sets it", lambda s: not spread[s])):
        rs = [r for r in rows[nfe] if keep(r[0])]
        if not rs:
            continue
        g = math.exp(sum(math.log(b / a) for _, a, b in rs) / len(rs))
        better = [s for s, a, b in rs if b < a / 1.05]
        worse = [s for s, a, b in rs if b > a * 1.05]
        print(f"NFE {nfe:2d} {name:20s} n {len(rs):2d}: inserted / rule geometric mean {g:.3f}; >5% better {len(better)} {better}; >5% worse {len(worse)} {worse}")

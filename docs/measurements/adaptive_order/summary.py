"""Condense sweep.py's lines: per NFE, the geometric mean of one configuration's score over another's,
how many mixtures each wins by more than 5 %, and the worst score of each.

    python docs/measurements/adaptive_order/summary.py A B FILE.jsonl ...
"""
import json
import math
import sys

NFES = [5, 7, 10, 14, 20]
a, b = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for path in sys.argv[3:] for line in open(path) if line.startswith("{")]
print(f"{len(rows)} mixtures; {b} against {a}")
for k, nfe in enumerate(NFES):
    ratio = [row[b][k] / row[a][k] for row in rows]
    gmean = math.exp(sum(map(math.log, ratio)) / len(ratio))
    worst_a = max(rows, key=lambda r: r[a][k])
    worst_b = max(rows, key=lambda r: r[b][k])
    print(f"NFE {nfe:2d}: geometric mean {gmean:.3f}; {b} better by > 5 % on {sum(r < 0.95 for r in ratio)}, "
          f"worse on {sum(r > 1.05 for r in ratio)}; worst {a} {worst_a[a][k]:.2f} (mixture {worst_a['seed']}), "
          f"worst {b} {worst_b[b][k]:.2f} (mixture {worst_b['seed']})")

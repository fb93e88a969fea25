"""One report from several runs of benchmarks/sampler_families.py over parts of a range (the halves
run on the two cores): the records of every JSON given, the table and the summary the benchmark
writes for one run.

    PYTHONPATH=src:benchmarks .venv/bin/python docs/measurements/sampler_families_combine.py A.json B.json ... > range.md
"""
import json
import sys

import sampler_families as S

records = sorted((r for path in sys.argv[1:] for r in json.load(open(path))["records"]), key=lambda r: r["seed"])
seeds = [r["seed"] for r in records]
if len(set(seeds)) != len(seeds):
    raise SystemExit(f"a mixture appears twice: {seeds}")
md, summary = S.table(records, S.NFES)
print(f"mixtures {seeds[0]}-{seeds[-1]} ({len(seeds)}), from: {', '.join(sys.argv[1:])}\n")
print(md + "\n")
print(f"cells {summary['cells']}; default within 1.05x of the best peer: {summary['within_1.05']:.0%}; "
      f"worst {summary['worst']:.2f}x; geometric mean {summary['geomean']:.2f}x; the exact ODE solve within 1.05x "
      f"of the best peer: {summary['exact_within_1.05']:.0%}\n")
print("| NFE | default within 1.05x of the best peer | within 1.5x | median | worst |\n|---:|---:|---:|---:|---:|")
for nfe, c in summary["by_nfe"].items():
    print(f"| {nfe} | {c['within_1.05']:.0%} | {c['within_1.5']:.0%} | {c['median']:.2f} | {c['worst']:.2f} |")

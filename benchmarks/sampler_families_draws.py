"""Is a cell of benchmarks/sampler_families.py signal or the metric's noise? One mixture, several
noise and reference draws (seeds 0..7), the exact probability-flow ODE solve (unipc, 200 log-SNR
steps), difflab's default at NFE 10 and 20, and the peers that won single-draw cells.

Prints, per configuration, the mean SW2 ratio over the draws with its standard error and the
first draw's value (the single-draw benchmark's number):

    PYTHONPATH=<peers> .venv/bin/python benchmarks/sampler_families_draws.py 2012 2004 2016 2009 \\
        --json docs/measurements/sampler_families_seeds8_2000.json
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import samplers as B  # noqa: E402
import sampler_families as SF  # noqa: E402

from difflab.models import random_mixture  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seeds", type=int, nargs="+", help="mixture seeds (random_mixture)")
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    runs = {"exact unipc200": SF.exact_run,
            "default20": B.difflab_run("unipc")(20), "default10": B.difflab_run("unipc")(10),
            "kd dpmpp_3m_sde trailing 20": SF.kdiff_run("dpmpp_3m_sde", "trailing")(20),
            "kd dpmpp_2m_sde karras 20": SF.kdiff_run("dpmpp_2m_sde", "karras")(20),
            "kd dpmpp_2m exponential 20": SF.kdiff_run("dpmpp_2m", "exponential")(20),
            "kd dpmpp_3m_sde trailing 10": SF.kdiff_run("dpmpp_3m_sde", "trailing")(10)}
    out = {}
    for s in args.seeds:
        p = B.Problem(f"mixture {s}", range(args.draws), n=args.n, mix=random_mixture(s), n_proj=256)
        row = {"true_draw": list(p.true_draw)}
        for label, run in runs.items():
            row[label] = [x / p.floor for x in p.error(run)["sw"]]
        out[s] = row
        print(s, " | ".join(f"{k} {statistics.fmean(v):.2f}±{statistics.stdev(v) / len(v) ** 0.5:.2f} (draw 0: {v[0]:.2f})"
                            for k, v in row.items()), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

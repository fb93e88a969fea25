"""Frechet distance versus network evaluations on a trained model (issue 5, item 4).

For each sampler and NFE budget, draw n class-conditional samples from an image
model folder (classifier-free guidance, the same seeds for every sampler) and
score them with ``difflab eval``'s Frechet distance in the feature space of the
MNIST-5k classifier, against the held-out split. The floor is the same distance
for n real training images.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/fd_vs_nfe.py runs/mnist5k \
        --n 500 --nfe 5 10 20 50 --samplers ddim dpmpp-2m deis heun --out docs/measurements/fd_vs_nfe

writes OUT.json, OUT.md (the table) and OUT.png (the plot). Heun costs two
evaluations per step (one on the last), so it runs ceil((NFE + 1) / 2) steps.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from difflab.io.atomic import write_text_atomic  # noqa: E402
from difflab.evaluate import evaluate_samples, generate_images  # noqa: E402
from difflab.pipelines import ImagePipeline  # noqa: E402

#: samplers whose step costs two network evaluations (the last step one)
TWO_EVALS = {"heun"}


def steps_for(sampler: str, nfe: int) -> int:
    return max(1, (nfe + 1) // 2) if sampler in TWO_EVALS else nfe


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--nfe", type=int, nargs="+", default=[5, 10, 20, 50])
    p.add_argument("--samplers", nargs="+", default=["ddim", "dpmpp-2m", "deis", "heun"])
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/measurements/fd_vs_nfe")
    args = p.parse_args()

    pipe = ImagePipeline.load(args.model)
    rows = []
    for sampler in args.samplers:
        for nfe in args.nfe:
            t0 = time.perf_counter()
            x, labels, meta = generate_images(pipe, args.n, sampler=sampler, steps=steps_for(sampler, nfe),
                                              guidance=args.guidance, seed=args.seed, progress=False)
            scores = evaluate_samples(x, labels, pipe.data, fid=False, progress=False)
            rows.append({"sampler": sampler, "steps": meta["steps"], "nfe": meta["nfe"], "fd": scores["fd"],
                         "fd_real_floor": scores["fd_real_floor"], "accuracy": scores["classifier_accuracy"],
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(rows[-1]), flush=True)
    result = {"model": args.model, "n": args.n, "guidance": args.guidance, "seed": args.seed, "rows": rows,
              "torch_threads": torch.get_num_threads()}
    write_text_atomic(f"{args.out}.json", json.dumps(result, indent=2) + "\n")

    nfes = sorted({r["nfe"] for r in rows})
    lines = ["| sampler | " + " | ".join(f"NFE {k}" for k in nfes) + " |", "|---|" + "---:|" * len(nfes)]
    for sampler in args.samplers:
        by = {r["nfe"]: r for r in rows if r["sampler"] == sampler}
        lines.append(f"| {sampler} | " + " | ".join(f"{by[k]['fd']:.2f} ({by[k]['accuracy']:.0%})" if k in by else "-"
                                                    for k in nfes) + " |")
    floor = rows[0]["fd_real_floor"]
    lines.append(f"\nFD (classifier accuracy) of n={args.n} samples, guidance {args.guidance}; "
                 f"floor (n real training images): {floor:.2f}.")
    write_text_atomic(f"{args.out}.md", "\n".join(lines) + "\n")

    from difflab.viz._figure import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for sampler in args.samplers:
        pts = sorted((r["nfe"], r["fd"]) for r in rows if r["sampler"] == sampler)
        ax.plot(*zip(*pts), marker="o", label=sampler)
    ax.axhline(floor, color="gray", linestyle="--", label="real-data floor")
    ax.set(xscale="log", yscale="log", xlabel="network evaluations (NFE)", ylabel="Frechet distance (classifier features)",
           title=f"MNIST-5k, n={args.n}, guidance {args.guidance}")
    ax.legend(fontsize=8)
    save_figure(fig, f"{args.out}.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

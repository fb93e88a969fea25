"""Training steps per second and loss curves of difflab's MNIST-5k recipe under each
precision and compilation setting, on one device (issue 16, points 1 and 2).

Every variant trains the same network from the same seed on the same batches and
noise (``difflab.train.fit`` with the recipe of ``difflab train image``: a 32-channel
UNet, v prediction, min-SNR-5 weighting, lr 1e-3, class labels dropped 10 %), so the
loss curves differ only by the arithmetic. Reported per variant:

- steps/s: the median of the step times after ``--skip`` steps (a step's time is the
  interval between consecutive draws of a batch; ``fit`` reads each step's loss, which
  synchronizes the device), and its ratio to ``fp32``;
- first-step seconds (``compiled`` pays its compilation there) and from how many steps
  on it has paid for itself;
- the mean loss of the last ``--tail`` steps and its difference from fp32's, against
  the noise of one step's loss (the standard deviation of fp32's tail): the numerics
  check of bf16 (Kalamkar et al. 2019) at full length, on the device it runs on.

    python benchmarks/train_precision.py --device cuda --steps 400 --batch 128
    python benchmarks/train_precision.py --device cpu --steps 60 --batch 32 --variants fp32,compiled

Variants: ``fp32`` (on CUDA with TF32 off: true float32), ``tf32`` (CUDA: TF32 matmuls
and convolutions), ``bf16`` (``precision="bf16"``: autocast, float32 master weights),
``compiled`` (``compile=True``), ``compiled-bf16``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import parse_variants, set_tf32  # noqa: E402  (the same variants and TF32 switch)

VARIANTS = ("fp32", "tf32", "bf16", "compiled", "compiled-bf16")


def recipe_denoiser(device: str, seed: int = 0):
    """The network ``difflab train image`` builds for MNIST-5k with its defaults."""
    from difflab.denoiser import Denoiser
    from difflab.nets import UNet
    from difflab.schedules import schedule_preset

    torch.manual_seed(seed)
    net = UNet(in_channels=1, channels=32, channel_mult=(1, 2, 2), num_res_blocks=1, attention_resolutions=(7,),
               image_size=28, groups=8, num_classes=10).to(device)
    return Denoiser(net, schedule_preset("cosine", discrete=True), "v", "index")


def run(variant: str, args, images, labels) -> dict:
    from difflab.train import fit

    set_tf32(variant == "tf32")
    stamps: list[float] = []

    def draw(n, g):
        stamps.append(time.perf_counter())
        i = torch.randint(0, len(images), (n,), generator=g)
        return images[i], {"labels": labels[i]}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # emulated bf16 on a CPU warns
        result = fit(recipe_denoiser(args.device, args.seed), draw, steps=args.steps, batch_size=args.batch,
                     lr=1e-3, warmup=100, weighting="min-snr", grad_clip=1.0, p_uncond=0.1, ema_half_life=None,
                     precision="bf16" if variant.endswith("bf16") else "fp32", compile=variant.startswith("compiled"),
                     seed=args.seed, progress=False)
    if args.device == "cuda":
        torch.cuda.synchronize()
    stamps.append(time.perf_counter())
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    steady = statistics.median(steps[args.skip:])
    tail = result.losses[-args.tail:]
    return {"variant": variant, "steps_per_s": 1 / steady, "first_step_s": steps[0], "steady_step_s": steady,
            "tail_mean": statistics.fmean(tail), "tail_std": statistics.stdev(tail), "skipped": result.skipped,
            "losses": result.losses}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=("cpu", "cuda"))
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--skip", type=int, default=20, help="first steps left out of the step-time median (default 20)")
    p.add_argument("--tail", type=int, default=100, help="last steps whose mean loss is compared (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--json", help="also write the results (with every loss) to this JSON file")
    args = p.parse_args(argv)
    variants = parse_variants(p, args, VARIANTS)
    if not 0 <= args.skip < args.steps - 1 or not 2 <= args.tail <= args.steps:
        p.error("need 0 <= --skip < --steps - 1 and 2 <= --tail <= --steps")

    from difflab.data.images import train_test

    train = train_test("mnist5k")[0]
    rows = []
    for v in variants:
        rows.append(run(v, args, train.images, train.labels))
        r = rows[-1]
        print(f"{v}: {r['steps_per_s']:.1f} steps/s, first step {r['first_step_s']:.1f} s, "
              f"tail loss {r['tail_mean']:.4f} +- {r['tail_std']:.4f}", file=sys.stderr, flush=True)
    set_tf32(False)

    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\ntorch {torch.__version__}, {where}; MNIST-5k recipe, batch {args.batch}, {args.steps} steps, "
          f"seed {args.seed}; step time: median after {args.skip} steps; loss: mean of the last {args.tail} steps\n")
    print("| variant | steps/s | images/s | x fp32 | first step (s) | pays off after (steps) "
          "| tail loss | - fp32 tail | fp32 one-step sd | within noise | skipped |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    ref = next((r for r in rows if r["variant"] == "fp32"), None)
    for r in rows:
        x = f"{r['steps_per_s'] / ref['steps_per_s']:.2f}" if ref else "-"
        base = next((b for b in rows if b["variant"] == ("bf16" if r["variant"].endswith("bf16") else "fp32")), None)
        pays = "-"
        if r["variant"].startswith("compiled") and base is not None:
            saved = base["steady_step_s"] - r["steady_step_s"]
            extra = r["first_step_s"] - base["first_step_s"]
            pays = f"{extra / saved:.0f}" if saved > 0 else "never"
        diff = f"{r['tail_mean'] - ref['tail_mean']:+.4f}" if ref else "-"
        sd = f"{ref['tail_std']:.4f}" if ref else "-"
        ok = ("yes" if abs(r["tail_mean"] - ref["tail_mean"]) < ref["tail_std"] else "NO") if ref else "-"
        print(f"| {r['variant']} | {r['steps_per_s']:.1f} | {r['steps_per_s'] * args.batch:.0f} | {x} "
              f"| {r['first_step_s']:.1f} | {pays} | {r['tail_mean']:.4f} | {diff} | {sd} | {ok} | {r['skipped']} |")
    print(f"\ncommand: {shlex.join(['python', *sys.argv])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": where, "torch": torch.__version__, "args": vars(args), "rows": rows}, f)


if __name__ == "__main__":
    main()

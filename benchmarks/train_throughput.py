"""Training and inference throughput: difflab's UNet against diffusers' UNet2DModel.

Both networks have the same architecture and size (DDPM's CIFAR-10 U-Net at 64 base
channels, channel_mult (1, 2, 2), two residual blocks per level, attention at 16x16
and in the middle, scale-shift time conditioning: 6.95 M parameters each) and run on
32x32x3 images, batch 32, in ONE process, timed in interleaved repetitions (medians),
because these machines are noisy. A training step is forward, MSE loss, backward and
an AdamW step.

Variants: ``fp32`` (contiguous float32; on CUDA with TF32 off for matmuls AND
convolutions, so it is true float32), ``tf32`` (CUDA only: TF32 tensor cores for
matmuls and convolutions, PyTorch's cuDNN default), ``channels_last`` (NHWC memory
format for weights and inputs), ``bf16`` (``torch.autocast`` bfloat16 forward, float32
weights), ``compiled`` (``torch.compile`` of each network, default settings, the same
for both libraries; its first training step and first inference pay the compilation,
reported as compile seconds, with the number of steps after which it has paid for
itself against ``fp32`` when both are measured), ``compiled-bf16`` (both).
On CUDA every timing synchronizes the device before and after.
bf16 is not in the default set: on a CPU without native bfloat16 arithmetic
(AVX512-BF16 / AMX) it is about 10x slower than float32. Peak memory is the growth
of the peak resident set size (VmHWM, or ``resource.getrusage``) over building one
model and two training steps, measured in a fresh subprocess per model (a process's
peak RSS only ever grows), for the ``--memory-variants``; on CUDA it is the peak of
allocated device memory over the same, in this process.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/train_throughput.py [--reps 2] [--variants fp32,channels_last,bf16]
    python benchmarks/train_throughput.py --device cuda --batch 128 --reps 30 \
        --variants fp32,tf32,bf16,compiled,compiled-bf16 --memory-variants fp32,bf16

diffusers is a benchmark-only dependency (``pip install diffusers``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

IMAGE, CHANNELS = 32, 3
VARIANTS = ("fp32", "tf32", "channels_last", "bf16", "compiled", "compiled-bf16")
CUDA_ONLY = ("tf32",)


def difflab_unet():
    from difflab.nets import UNet

    return UNet(in_channels=CHANNELS, channels=64, channel_mult=(1, 2, 2), num_res_blocks=2,
                attention_resolutions=(16,), image_size=IMAGE, groups=32, head_channels=64)


def diffusers_unet():
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=IMAGE, in_channels=CHANNELS, out_channels=CHANNELS, layers_per_block=2,
        block_out_channels=(64, 128, 128), down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), norm_num_groups=32, attention_head_dim=64,
        resnet_time_scale_shift="scale_shift")


MODELS = {"difflab": difflab_unet, "diffusers": diffusers_unet}


def params(model) -> int:
    return sum(p.numel() for p in model.parameters())


class Runner:
    """One model in one variant: a training step and an inference forward on fixed inputs."""

    def __init__(self, name: str, variant: str, batch: int, device: str = "cpu") -> None:
        torch.manual_seed(0)
        self.name, self.variant, self.device = name, variant, torch.device(device)
        self.model = MODELS[name]().to(self.device)
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(batch, CHANNELS, IMAGE, IMAGE, generator=g).to(self.device)
        self.eps = torch.randn(batch, CHANNELS, IMAGE, IMAGE, generator=g).to(self.device)
        self.t = torch.randint(0, 1000, (batch,), generator=g).to(self.device)
        if variant == "channels_last":
            self.model = self.model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
            self.eps = self.eps.contiguous(memory_format=torch.channels_last)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        if variant.startswith("compiled"):
            self.model = torch.compile(self.model)
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=variant.endswith("bf16"))

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def forward(self) -> torch.Tensor:
        with self.autocast:
            if self.name == "difflab":
                return self.model(self.x, self.t.float())
            return self.model(self.x, self.t).sample

    def train_step(self) -> float:
        self.sync()
        t0 = time.perf_counter()
        self.model.train()
        loss = (self.forward().float() - self.eps).pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sync()
        return time.perf_counter() - t0

    @torch.no_grad()
    def infer(self) -> float:
        self.sync()
        t0 = time.perf_counter()
        self.model.eval()
        self.forward()
        self.sync()
        return time.perf_counter() - t0


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB: VmHWM on Linux (it belongs to the
    address space, so it starts afresh at exec; ``ru_maxrss`` would carry the parent's
    peak over into a subprocess), ``ru_maxrss`` elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def measure_memory(name: str, variant: str, batch: int, steps: int = 2) -> None:
    """(subprocess) peak RSS growth in MiB over building the model and ``steps`` training steps, printed."""
    base = peak_rss_kib()
    runner = Runner(name, variant, batch)
    for _ in range(steps):
        runner.train_step()
    print((peak_rss_kib() - base) / 1024)


def parse_variants(p, args, allowed, cuda_only=("tf32",)) -> list[str]:
    """``args.variants`` (comma-separated) checked against ``allowed`` and ``args.device``;
    a bad one is a one-line parser error."""
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in allowed]
    if unknown:
        p.error(f"unknown variant {unknown[0]!r}; expected one of {', '.join(allowed)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available here")
    if args.device == "cpu" and set(variants) & set(cuda_only):
        p.error(f"variant(s) {', '.join(sorted(set(variants) & set(cuda_only)))} need --device cuda")
    return variants


def set_tf32(on: bool) -> None:
    """TF32 tensor cores for CUDA matmuls and cuDNN convolutions, on or off."""
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def cuda_memory_of(name: str, variant: str, args, steps: int = 2) -> float:
    """Peak allocated CUDA memory in MiB over building the model and ``steps`` training steps."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    runner = Runner(name, variant, args.batch, args.device)
    for _ in range(steps):
        runner.train_step()
    peak = torch.cuda.max_memory_allocated() - base
    del runner
    return peak / 2**20


def memory_of(name: str, variant: str, args) -> float:
    if args.device == "cuda":
        return cuda_memory_of(name, variant, args)
    cmd = [sys.executable, __file__, "--memory-of", name, variant, "--batch", str(args.batch),
           "--threads", str(args.threads)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=2, help="timed repetitions per model and variant (default 2)")
    p.add_argument("--variants", default="fp32,channels_last", help=f"comma-separated subset of {', '.join(VARIANTS)} "
                   "(default fp32,channels_last)")
    p.add_argument("--memory-variants", default="fp32", help="variants whose peak memory is measured, in "
                   "subprocesses (default fp32; '' for none)")
    p.add_argument("--memory-of", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_of:
        measure_memory(*args.memory_of, args.batch)
        return
    variants = parse_variants(p, args, VARIANTS, CUDA_ONLY)

    counts = {name: params(make()) for name, make in MODELS.items()}
    ratio = counts["diffusers"] / counts["difflab"]
    assert abs(ratio - 1) < 0.05, f"parameter counts differ by more than 5%: {counts}"

    rows, warm = [], {}
    for variant in variants:
        if args.device == "cuda":
            set_tf32(variant == "tf32")
        runners = [Runner(name, variant, args.batch, args.device) for name in MODELS]
        first = {}
        for r in runners:  # warm-up: first-call allocations, oneDNN primitive creation, compilation
            first[r.name] = (r.train_step(), r.infer())
        print(f"{variant}: warmed up", file=sys.stderr, flush=True)
        train = {r.name: [] for r in runners}
        infer = {r.name: [] for r in runners}
        for _ in range(args.reps):  # interleaved
            for r in runners:
                train[r.name].append(r.train_step())
                infer[r.name].append(r.infer())
        for r in runners:
            mem = memory_of(r.name, variant, args) if variant in args.memory_variants.split(",") else None
            rows.append((r.name, variant, args.batch / statistics.median(train[r.name]),
                         args.batch / statistics.median(infer[r.name]), mem))
            print(f"{variant} {r.name}: train {rows[-1][2]:.1f} img/s, inference {rows[-1][3]:.1f} img/s"
                  + (f", memory {mem:.0f} MiB" if mem is not None else ""), file=sys.stderr, flush=True)
            if variant.startswith("compiled"):
                warm[(r.name, variant)] = (first[r.name][0] - statistics.median(train[r.name]),
                                first[r.name][1] - statistics.median(infer[r.name]))
        del runners

    where = (f"{torch.cuda.get_device_name()}" if args.device == "cuda" else f"{args.threads} threads")
    print(f"\ntorch {torch.__version__}, {where}, batch {args.batch}, {IMAGE}x{IMAGE}x{CHANNELS}, "
          f"medians of {args.reps} interleaved repetitions; parameters: difflab {counts['difflab']:,}, "
          f"diffusers {counts['diffusers']:,}\n")
    mem_kind = "peak CUDA memory (MiB)" if args.device == "cuda" else "peak train memory (MiB)"
    print(f"| model | variant | train img/s | inference img/s | {mem_kind} "
          "| difflab/diffusers train | difflab/diffusers inference |")
    print("|---|---|---:|---:|---:|---:|---:|")
    by = {(n, v): (tr, inf) for n, v, tr, inf, _ in rows}
    for name, variant, tr, inf, mem in rows:
        ref = by[("diffusers", variant)]
        ratios = f"{tr / ref[0]:.2f} | {inf / ref[1]:.2f}" if name == "difflab" else " | "
        mem_s = f"{mem:.0f}" if mem is not None else "-"
        print(f"| {name} | {variant} | {tr:.1f} | {inf:.1f} | {mem_s} | {ratios} |")
    for (name, variant), (train_s, infer_s) in warm.items():
        line = f"\n{name} {variant}: compilation {train_s:.1f} s (training step) + {infer_s:.1f} s (inference)"
        base = "bf16" if variant.endswith("bf16") else "fp32"
        if (name, base) in by:
            eager, comp = by[(name, base)][0], by[(name, variant)][0]
            saved = args.batch / eager - args.batch / comp  # seconds per training step
            line += (f"; pays for itself against eager {base} after {train_s / saved:.0f} training steps"
                     if saved > 0 else f"; no faster than eager {base} per step")
        print(line)
    if args.device == "cuda":
        set_tf32(False)
    print(f"\ncommand: OMP_WAIT_POLICY=PASSIVE {shlex.join(['python', *sys.argv])}")


if __name__ == "__main__":
    main()

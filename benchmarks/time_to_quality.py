"""Time to quality: FD of MNIST-5k models against minutes of training, difflab beside
denoising-diffusion-pytorch, on the same machine (issue 16, point 4).

Three phases, each resumable (a finished piece is skipped when run again):

    python benchmarks/time_to_quality.py train difflab-cond   --out runs/ttq --seed 1
    python benchmarks/time_to_quality.py train difflab-uncond --out runs/ttq --seed 1
    python benchmarks/time_to_quality.py train ddpm-pytorch   --out runs/ttq --seed 1
    python benchmarks/time_to_quality.py score  --out runs/ttq --n 1000 --sample-seed 100000
    python benchmarks/time_to_quality.py report --out runs/ttq --md docs/measurements/time_to_quality.md

- **train** runs one recipe for the largest of ``--minutes`` (default 3 5 10 15) of wall
  clock on this machine and keeps the EMA weights as they were at each mark. The clock
  counts everything from building the data set to the last step, less the time spent
  writing snapshots. Run the trainings one after another on an otherwise idle machine.
- **score** samples ``--n`` images from every snapshot with DDIM (eta 0) and ``--steps``
  steps, both libraries alike, sample i from seed ``sample-seed + i`` (difflab) or each
  batch of 250 from ``sample-seed + start`` (denoising-diffusion-pytorch draws from the
  global generator), and scores them with :func:`difflab.evaluate.images.evaluate_samples`:
  FD in the 64-d features of difflab's MNIST-5k classifier against the 500 held-out
  images, beside the real/real floor at the same n. Class-conditional difflab models
  are sampled with labels cycling 0..9 (balanced) and guidance 1 (the conditional model
  alone).
- **report** writes the table and a JSON of every figure.

The recipes:

- ``difflab-cond`` / ``difflab-uncond``: :func:`difflab.train.image.train_image`, its
  defaults (the README's MNIST-5k recipe) with ``steps`` set so that the run fills the
  budget (from a 30-step probe of this machine's speed), ``--set KEY=VALUE`` overriding
  any argument (e.g. ``--set lr=2e-3 batch_size=32``); ``uncond`` trains without labels.
  The snapshots come from the recipe's own checkpoints: for the run, its model exporter
  is wrapped so that, every 10 steps, the exported folder is also kept as the latest
  model before the next mark.
- ``ddpm-pytorch``: denoising-diffusion-pytorch's ``Unet(dim=32, dim_mults=(1, 2, 4),
  channels=1)`` in its ``GaussianDiffusion`` with every default (T = 1000, sigmoid
  schedule, v objective), trained as its ``Trainer`` does by default (Adam lr 1e-4,
  betas (0.9, 0.99), batch 16, gradient norm clipped to 1, ``ema_pytorch.EMA`` with
  beta 0.995 updated every 10 steps), on the same 4,500 training images in [0, 1].
  Two departures from its Trainer: no horizontal flips (its default; digits are not
  mirror-symmetric, so flips can only hurt it) and the loop is written here, because
  the Trainer reads an image folder through torchvision.

denoising-diffusion-pytorch is a benchmark-only dependency (``pip install
denoising-diffusion-pytorch``). It imports torchvision, which it uses only in its
Trainer and dataset; when torchvision cannot load against this torch (the CPU wheel
beside a CUDA torchvision fails with "operator torchvision::nms does not exist"), an
empty stand-in module is put in its place so that its networks import.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

RUNS = ("difflab-cond", "difflab-uncond", "ddpm-pytorch")
MARKS = (3.0, 5.0, 10.0, 15.0)


def _import_ddpm_pytorch():
    """denoising_diffusion_pytorch's Unet, GaussianDiffusion and ema_pytorch's EMA
    (module docstring: torchvision stand-in)."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # a torchvision built for another torch
        for name in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[name]
        stand_in = types.ModuleType("torchvision")
        stand_in.transforms = types.ModuleType("torchvision.transforms")
        stand_in.utils = types.ModuleType("torchvision.utils")
        sys.modules.update({"torchvision": stand_in, "torchvision.transforms": stand_in.transforms,
                            "torchvision.utils": stand_in.utils})
    from denoising_diffusion_pytorch import GaussianDiffusion, Unet
    from ema_pytorch import EMA

    return Unet, GaussianDiffusion, EMA


def _ddpm_pytorch_model(sampling_timesteps: int | None = None):
    Unet, GaussianDiffusion, _ = _import_ddpm_pytorch()
    net = Unet(dim=32, dim_mults=(1, 2, 4), channels=1)
    return GaussianDiffusion(net, image_size=28, sampling_timesteps=sampling_timesteps)


class Clock:
    """Wall clock of a training less the time spent writing snapshots."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.paused = 0.0

    def minutes(self) -> float:
        return (time.perf_counter() - self.start - self.paused) / 60

    @contextlib.contextmanager
    def pause(self):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - t


def _write_json(path: Path, obj) -> None:
    from difflab.io.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=1))


def train_ddpm_pytorch(out: Path, marks, seed: int) -> None:
    from safetensors.torch import save_file

    from difflab.data.images import train_test

    _, _, EMA = _import_ddpm_pytorch()
    clock = Clock()
    train, _ = train_test("mnist5k")
    images01 = (train.images + 1) / 2
    torch.manual_seed(seed)
    diffusion = _ddpm_pytorch_model()
    ema = EMA(diffusion, beta=0.995, update_every=10)
    opt = torch.optim.Adam(diffusion.parameters(), lr=1e-4, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(seed)
    order, cursor, step = torch.randperm(len(images01), generator=g), 0, 0
    pending = sorted(marks)
    while pending:
        if cursor + 16 > len(order):  # a new epoch, as its DataLoader(shuffle=True) cycled
            order, cursor = torch.randperm(len(images01), generator=g), 0
        batch = images01[order[cursor:cursor + 16]]
        cursor += 16
        loss = diffusion(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(diffusion.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        ema.update()
        step += 1
        if step % 50 == 0:
            print(f"ddpm-pytorch step {step} {clock.minutes():.2f} min loss {loss.item():.4f}", flush=True)
        while pending and clock.minutes() >= pending[0]:
            mark = pending.pop(0)
            with clock.pause():
                name = f"snap-{mark:g}min"
                save_file({k: v.contiguous() for k, v in ema.ema_model.state_dict().items()},
                          str(out / f"{name}.safetensors"))
                _write_json(out / f"{name}.json", {"run": "ddpm-pytorch", "mark_min": mark, "steps": step,
                                                   "images": step * 16, "minutes": clock.minutes(), "seed": seed})
            print(f"ddpm-pytorch snapshot at {mark:g} min: step {step}", flush=True)


def _probe_seconds_per_step(args: dict) -> float:
    """Seconds per step of ``train_image(**args)`` on this machine: 30 steps, the fastest of
    the two intervals after the first 10 (the first steps pay for allocation and warm-up)."""
    from difflab.train.image import train_image
    from difflab.train.log import read_log

    with tempfile.TemporaryDirectory() as tmp:
        train_image(**{**args, "steps": 30, "warmup": 1, "log_every": 10, "checkpoint_every": None,
                       "out": Path(tmp) / "probe", "progress": False})
        rows = [r for r in read_log(Path(tmp) / "probe" / "train_log.jsonl") if r.get("images_per_s")]
    return _batch_size(args) / max(r["images_per_s"] for r in rows[1:])


def _batch_size(args: dict) -> int:
    from difflab.train.image import train_image

    return args.get("batch_size", inspect.signature(train_image).parameters["batch_size"].default)


def train_difflab(out: Path, marks, seed: int, conditional: bool, overrides: dict) -> None:
    import shutil

    from difflab.train import image as image_recipe
    from difflab.train.image import train_image

    args = {"data": "mnist5k", "class_conditional": conditional, "seed": seed, **overrides}
    per_step = _probe_seconds_per_step(args)
    budget = max(marks) * 60
    if "steps" not in overrides:
        # the probe times the steps alone: leave 3 % for data, logging and checkpoints
        args["steps"] = max(1, int(0.97 * budget / per_step))
    print(f"difflab: {per_step:.3f} s/step in the probe, {args['steps']} steps for {max(marks):g} min", flush=True)

    clock = Clock()
    pending = sorted(marks)
    original = image_recipe.model_exporter

    def exporter(folder, denoiser, extra):
        export = original(folder, denoiser, extra)

        def keep(step, ema):
            with clock.pause():
                export(step, ema)
            while pending and clock.minutes() >= pending[0]:
                pending.pop(0)
            if not pending:
                return
            # the model as it is now is the latest one before the next mark
            with clock.pause():
                mark = pending[0]
                name = f"snap-{mark:g}min"
                target = out / name
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(folder, target, ignore=shutil.ignore_patterns("checkpoint.safetensors", "*.lock",
                                                                               ".*", "loss.png"))
                _write_json(out / f"{name}.json", {"run": out.name, "mark_min": mark, "steps": step,
                                                   "images": step * _batch_size(args),
                                                   "minutes": clock.minutes(), "seed": seed,
                                                   "recipe": dict(args)})

        return keep

    image_recipe.model_exporter = exporter
    try:
        train_image(**args, out=out / "run", checkpoint_every=10, overwrite=True, progress=False)
    finally:
        image_recipe.model_exporter = original
    print(f"difflab: done in {clock.minutes():.2f} min", flush=True)


def _sample_ddpm_pytorch(snapshot: Path, n: int, steps: int, seed: int) -> torch.Tensor:
    from safetensors.torch import load_file

    diffusion = _ddpm_pytorch_model(sampling_timesteps=steps)
    diffusion.load_state_dict(load_file(str(snapshot)))
    diffusion.eval()
    out = []
    with torch.no_grad():
        for start in range(0, n, 250):
            torch.manual_seed(seed + start)
            out.append(diffusion.sample(batch_size=min(250, n - start)))
    return torch.cat(out) * 2 - 1  # [0, 1] -> difflab's model range [-1, 1]


def score(out: Path, n: int, steps: int, seed: int) -> None:
    from difflab.data.images import dataset_config
    from difflab.evaluate.images import evaluate_samples, generate_images
    from difflab.pipelines.image import ImagePipeline

    data_cfg = dataset_config("mnist5k")
    def order(path: Path):
        """difflab's snapshots first (cheap to sample), then the peer's: its last and first mark, then the rest."""
        marks = sorted(float(p.stem[5:-3]) for p in path.parent.glob("snap-*min.json"))
        mark = float(path.stem[5:-3])
        return (path.parent.name == "ddpm-pytorch", 0 if mark == marks[-1] else 1 if mark == marks[0] else 2, mark,
                str(path))

    for meta_path in sorted(out.glob("*/snap-*min.json"), key=order):
        result_path = meta_path.with_name(meta_path.stem + f".score-n{n}-s{steps}-seed{seed}.json")
        if result_path.exists():
            continue
        meta = json.loads(meta_path.read_text())
        t = time.perf_counter()
        if meta_path.parent.name == "ddpm-pytorch":
            samples, labels = _sample_ddpm_pytorch(meta_path.with_suffix(".safetensors"), n, steps, seed), None
            sampling = {"sampler": "ddim (its ddim_sample, eta 0)", "sample_steps": steps, "guidance": None}
        else:
            pipe = ImagePipeline.load(meta_path.with_suffix(""))
            samples, labels, info = generate_images(pipe, n, sampler="ddim", steps=steps, guidance=1.0, seed=seed,
                                                    progress=False)
            sampling = {"sampler": info["sampler"], "sample_steps": info["steps"], "nfe": info["nfe"],
                        "guidance": info["guidance"]}
        sample_s = time.perf_counter() - t
        scores = evaluate_samples(samples, labels, data_cfg, fid=False, progress=False)
        result = {**meta, "n": n, "sample_seed": seed, **sampling, "fd": scores["fd"],
                  "fd_real_floor": scores["fd_real_floor"], "classifier_accuracy": scores.get("classifier_accuracy"),
                  "sampling_seconds": round(sample_s, 1)}
        _write_json(result_path, result)
        print(f"{meta_path.parent.name} {meta['mark_min']:g} min: FD {scores['fd']:.2f} "
              f"(floor {scores['fd_real_floor']:.2f})", flush=True)


def report(out: Path, md: Path | None) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*/snap-*min.score-*.json"))]
    by_run: dict = {}
    for r in rows:
        by_run.setdefault(r["run"], {})[r["mark_min"]] = r
    marks = sorted({r["mark_min"] for r in rows})
    lines = ["| run | " + " | ".join(f"{m:g} min" for m in marks) + " |", "|---|" + "---:|" * len(marks)]
    for run, cells in by_run.items():
        lines.append(f"| {run} | " + " | ".join(
            f"{cells[m]['fd']:.2f} ({cells[m]['steps']} steps)" if m in cells else "" for m in marks) + " |")
    floor = sorted({round(r["fd_real_floor"], 2) for r in rows})
    lines.append("")
    lines.append(f"FD at n = {rows[0]['n'] if rows else '?'}; real/real floor at that n: {floor}")
    text = "\n".join(lines)
    print(text)
    if md is not None:
        md.write_text(text + "\n")
        _write_json(md.with_suffix(".json"), rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("run", choices=RUNS)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--minutes", type=float, nargs="+", default=list(MARKS))
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--name", help="folder name under --out (default: the run)")
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="difflab recipe overrides")
    s = sub.add_parser("score")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--n", type=int, default=1000)
    s.add_argument("--steps", type=int, default=25)
    s.add_argument("--sample-seed", type=int, default=100_000)
    r = sub.add_parser("report")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--md", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "train":
        overrides = {}
        for item in a.set:
            key, _, value = item.partition("=")
            try:
                overrides[key] = json.loads(value)
            except ValueError:
                overrides[key] = value
        if overrides and a.run == "ddpm-pytorch":
            p.error("--set changes difflab's recipe; the peer runs its defaults")
        from difflab.train.image import train_image

        known = set(inspect.signature(train_image).parameters) - {"out", "class_conditional", "seed"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            p.error(f"--set {unknown[0]}: not an argument of train_image; one of {', '.join(sorted(known))}")
        folder = a.out / (a.name or a.run)
        folder.mkdir(parents=True, exist_ok=True)
        if a.run == "ddpm-pytorch":
            train_ddpm_pytorch(folder, a.minutes, a.seed)
        else:
            train_difflab(folder, a.minutes, a.seed, a.run == "difflab-cond", overrides)
    elif a.cmd == "score":
        score(a.out, a.n, a.steps, a.sample_seed)
    else:
        report(a.out, a.md)


if __name__ == "__main__":
    main()

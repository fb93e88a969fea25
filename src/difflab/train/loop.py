"""The training engine: one function, :func:`fit`, with a pluggable loss.

A loss (:class:`Loss`) has two parts: ``draw``, which draws the per-sample randomness
of a global batch on the CPU, and ``__call__``, which computes the loss of one
micro-batch on the training device from it. The default is :class:`DenoisingLoss`
(:func:`difflab.losses.denoising_loss` of a :class:`~difflab.Denoiser`); the
autoencoder trainer (:mod:`difflab.train.autoencoder`) plugs in the VAE bound.

One step of :func:`fit` on a global batch of B samples:

1. draw the batch ``draw_batch(B, g_data)`` and, with ``loss.draw``, every sample's
   randomness from ``g_noise`` (for the denoising loss: its time t, its noise eps and
   its label-dropout coin): all for the WHOLE global batch, on the CPU, before any
   split, so the randomness of sample i does not depend on how the batch is cut into
   processes or micro-batches;
2. each of the W processes (:mod:`difflab.train.distributed`) takes its shard of B/W
   samples and cuts it into ``accumulate`` micro-batches; each micro-batch's loss
   (under bf16 autocast if asked) is weighted by its share of the shard, so the
   accumulated gradient is the gradient of the mean loss over the shard, and DDP's
   all-reduce averages the W shards into the gradient of the mean over the global
   batch: k micro-batches of b are one batch of k b (exactly so for a loss that is a
   mean over samples, as both losses here are);
3. the gradient norm is computed (and clipped to ``grad_clip``, Pascanu et al. 2013);
   a step whose loss or gradient is not finite is skipped: counted and logged, with
   no change to the weights, the optimizer or the EMA;
4. AdamW (decoupled weight decay, Loshchilov & Hutter 2019) updates the float32
   master weights, the learning rate follows a linear warm-up (Goyal et al. 2017)
   then a cosine decay (Loshchilov & Hutter 2017) to 10%, and the EMA of the weights
   (half-life in samples, Karras et al. 2022 app. C) follows, if there is one.

Every ``checkpoint_every`` steps (and at the end) rank 0 writes one checkpoint file
(:mod:`difflab.io.checkpoint`) holding the weights, EMA, optimizer, scheduler,
every random generator and the config; ``resume=True`` continues from it and ends
bitwise where an uninterrupted run ends (on the CPU). The loss log is JSON lines
(:mod:`difflab.train.log`), with the loss's extra terms (e.g. the autoencoder's
``rec`` and ``kl``) averaged per log interval like the loss, and a loss-curve PNG
beside it.

Mixed precision: ``precision="bf16"`` runs the forward pass under ``torch.autocast`` in
bfloat16 (Kalamkar et al. 2019) while the weights, gradients and optimizer state stay
float32 (the "master weights" of Micikevicius et al. 2018). bfloat16 has float32's
exponent range, so no loss scaling is needed. ``"auto"`` picks it where the hardware
multiplies bfloat16 natively (:mod:`difflab.precision`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import torch

from ..losses import denoising_loss, sample_t
from ..precision import autocast as precision_autocast, resolve_precision
from ..tensors import append_dims
from ..io.checkpoint import Checkpoint, check_state_dict, config_differences, read_checkpoint, save_checkpoint
from .distributed import World, all_gather_tensor, world
from .ema import EMA, ema_half_life as _half_life_at
from .log import LossLog, plot_loss_curve

__all__ = [
    "fit",
    "FitResult",
    "Loss",
    "DenoisingLoss",
    "lr_factor",
    "draw_step_noise",
    "drop_conditions",
    "stream_seed",
    "CHECKPOINT",
    "LOG",
    "LOSS_CURVE",
    "RESUME_MAY_CHANGE",
]

log = logging.getLogger("difflab.train")

#: file names inside a run folder (``fit(..., out=folder)``)
CHECKPOINT, LOG, LOSS_CURVE = "checkpoint.safetensors", "train_log.jsonl", "loss.png"
#: config keys a resumed run may change: they do not change the training trajectory
#: (up to float rounding for ``accumulate`` and ``compile``) or only extend it (``steps``)
RESUME_MAY_CHANGE = ("fit.steps", "fit.accumulate", "fit.compile", "fit.precision", "fit.bf16")


@dataclass
class FitResult:
    """What a :func:`fit` run did: per-step losses of this run (the global batch mean;
    NaN for a skipped step), the EMA, and counters over the whole training (resumes
    included)."""

    losses: list = field(default_factory=list)
    ema: EMA | None = None
    samples_seen: int = 0
    step: int = 0
    skipped: int = 0
    checkpoint: Path | None = None


def lr_factor(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up for ``warmup`` steps (Goyal et al. 2017), then cosine decay
    (Loshchilov & Hutter 2017) to 10% at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for the named random stream of a run: the first 8 bytes of
    SHA-256 of ``"{seed}/{stream}"``, so streams of one run and of neighbouring seeds
    are unrelated."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{stream}".encode()).digest()[:8], "little") >> 1


def drop_conditions(cond: dict, p_uncond: float, null_cond: dict, generator: torch.Generator) -> dict:
    """Classifier-free guidance training (Ho & Salimans 2022, Algorithm 1): replace each
    sample's condition by the null condition with probability ``p_uncond``.

    One coin per sample from ``generator`` (``torch.rand(N) < p_uncond``; nothing is
    drawn when ``p_uncond`` is 0). Each key of ``null_cond`` (e.g.
    ``{"labels": num_classes}``) names a per-sample tensor in ``cond`` and the value
    that replaces it (broadcast over its trailing dims).
    """
    if p_uncond <= 0:
        return cond
    sizes = [v.shape[0] for v in cond.values() if isinstance(v, torch.Tensor) and v.ndim > 0]
    if not sizes:
        raise ValueError(f"p_uncond={p_uncond} drops conditions, but the batch has none: "
                         "draw_batch must return (x0, cond) with per-sample tensors")
    n = sizes[0]
    drop = torch.rand(n, generator=generator) < p_uncond
    out = dict(cond)
    for key, null in null_cond.items():
        value = cond.get(key)
        if not isinstance(value, torch.Tensor) or value.ndim == 0 or value.shape[0] != n:
            raise ValueError(f"label dropout replaces cond[{key!r}], but the batch has no per-sample tensor {key!r}")
        null = torch.as_tensor(null, dtype=value.dtype, device=value.device)
        out[key] = torch.where(append_dims(drop, value.ndim).to(value.device), null, value)
    return out


def draw_step_noise(schedule, x0: torch.Tensor, generator: torch.Generator,
                    t_sampling: str = "uniform") -> tuple[torch.Tensor, torch.Tensor]:
    """(t, eps) for every sample of a global batch ``x0``: times from
    :func:`difflab.losses.sample_t`, then standard normal noise, float32 on the CPU."""
    t = sample_t(schedule, x0.shape[0], generator, sampling=t_sampling)
    noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32)
    return t, noise


class Loss(Protocol):
    """What :func:`fit` minimises, in two parts (module docstring, steps 1 and 2).

    ``config``: a JSON-able dict of the loss's settings, merged into the checkpoint's
    ``"fit"`` config (so a resume with other settings is refused); its keys must not be
    :func:`fit`'s own.

    ``draw(x0, cond, generator)`` -> ``(cond, noise)``: runs once per step on the
    WHOLE global batch as ``draw_batch`` returned it, on the CPU, before the batch is
    cut. It draws every sample's randomness from ``generator`` (fit's noise stream)
    and returns the condition (possibly changed, e.g. label dropout) and a dict of
    per-sample tensors (first dim the batch), which fit cuts along with ``x0``.

    ``__call__(net, x0, cond, noise)`` -> a scalar loss, or ``(loss, terms)`` with
    ``terms`` a dict of detached scalars to log (averaged per log interval): the loss
    of one micro-batch, on the device. ``x0`` and ``cond`` are on the training device,
    ``noise`` is the micro-batch's slice of ``draw``'s dict, still on the CPU (the loss
    moves what it needs). ``net`` is the trained ``nn.Module``; under DDP the whole call
    runs inside DDP's forward, so the loss may use any of the network's methods.
    The loss must be a mean over the micro-batch's samples for accumulation and DDP
    to give the gradient of the global batch's mean.
    """

    config: dict

    def draw(self, x0: torch.Tensor, cond: dict, generator: torch.Generator) -> tuple[dict, dict]: ...

    def __call__(self, net: torch.nn.Module, x0: torch.Tensor, cond: dict, noise: dict): ...


class DenoisingLoss:
    """The default :class:`Loss` of :func:`fit`: :func:`difflab.losses.denoising_loss` of
    ``denoiser`` (its ``net`` is what fit trains), with the times drawn by
    ``t_sampling`` and label dropout ``p_uncond`` to ``null_cond`` for classifier-free
    guidance (Ho & Salimans 2022; default ``{"labels": num_classes}`` from the
    network's config). ``draw`` is :func:`draw_step_noise` then :func:`drop_conditions`."""

    def __init__(self, denoiser, weighting=None, t_sampling: str = "uniform", p_uncond: float = 0.0,
                 null_cond: dict | None = None) -> None:
        if not 0.0 <= p_uncond < 1.0:
            raise ValueError(f"p_uncond must be in [0, 1), got {p_uncond}")
        if p_uncond > 0 and null_cond is None:
            from ..guidance import null_labels

            null_cond = null_labels(denoiser)
        self.denoiser, self.weighting, self.t_sampling = denoiser, weighting, t_sampling
        self.p_uncond, self.null_cond = p_uncond, null_cond or {}
        self.config = {
            "weighting": weighting if weighting is None or isinstance(weighting, str) else getattr(weighting, "__qualname__", "custom"),
            "t_sampling": t_sampling, "p_uncond": p_uncond,
            "null_cond": {k: v.tolist() if isinstance(v, torch.Tensor) else v for k, v in self.null_cond.items()},
        }

    def draw(self, x0: torch.Tensor, cond: dict, generator: torch.Generator) -> tuple[dict, dict]:
        t, noise = draw_step_noise(self.denoiser.schedule, x0, generator, self.t_sampling)
        return drop_conditions(cond, self.p_uncond, self.null_cond, generator), {"t": t, "noise": noise}

    def __call__(self, net, x0: torch.Tensor, cond: dict, noise: dict) -> torch.Tensor:
        denoiser = self.denoiser
        if net is not denoiser.net:
            denoiser = copy.copy(denoiser)
            denoiser.net = net
        return denoising_loss(denoiser, x0, t=noise["t"], noise=noise["noise"].to(x0.device),
                              weighting=self.weighting, t_sampling=self.t_sampling, cond=cond)


class _Objective(torch.nn.Module):
    """The module DDP wraps: its forward is the whole loss of a micro-batch, so every use
    of the network's parameters happens inside DDP's forward."""

    def __init__(self, net: torch.nn.Module, loss: Loss) -> None:
        super().__init__()
        self.net, self.loss = net, loss

    def forward(self, x0, cond, noise):
        return self.loss(self.net, x0, cond, noise)


def _split_batch(batch) -> tuple[torch.Tensor, dict]:
    if isinstance(batch, torch.Tensor):
        return batch, {}
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], dict):
        return batch[0], dict(batch[1])
    raise TypeError(f"draw_batch must return a tensor or (tensor, cond dict), got {type(batch).__name__}")


def _take(cond: dict, index: slice, n: int, device) -> dict:
    return {k: (v[index].to(device) if isinstance(v, torch.Tensor) and v.ndim > 0 and v.shape[0] == n else v)
            for k, v in cond.items()}


def _loss_and_terms(out) -> tuple[torch.Tensor, dict]:
    if isinstance(out, torch.Tensor):
        return out, {}
    if isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[1], dict):
        return out[0], out[1]
    raise TypeError(f"a loss must return a scalar tensor or (scalar, dict of terms), got {type(out).__name__}")


def rng_state(w: World, g_data: torch.Generator, g_noise: torch.Generator) -> dict:
    rng = {"data": g_data.get_state(), "noise": g_noise.get_state()}
    for r, state in enumerate(all_gather_tensor(torch.get_rng_state(), w)):
        rng[f"torch/{r}"] = state
    if torch.cuda.is_available():
        for d, state in enumerate(torch.cuda.get_rng_state_all()):
            for r, s in enumerate(all_gather_tensor(state, w)):
                rng[f"cuda/{r}/{d}"] = s
    return rng


def restore_rng(rng: dict, w: World, g_data: torch.Generator, g_noise: torch.Generator, path) -> None:
    g_data.set_state(rng["data"])
    g_noise.set_state(rng["noise"])
    saved_ranks = sorted(int(k.split("/")[1]) for k in rng if k.startswith("torch/"))
    if saved_ranks:
        if len(saved_ranks) != w.size:
            log.warning("%s was written by %d processes, this run has %d: dropout randomness will differ",
                        path, len(saved_ranks), w.size)
        torch.set_rng_state(rng[f"torch/{saved_ranks[w.rank % len(saved_ranks)]}"])
    if torch.cuda.is_available():
        for d in range(torch.cuda.device_count()):
            key = f"cuda/{w.rank}/{d}"
            if key in rng:
                torch.cuda.set_rng_state(rng[key], d)


def canonical_config(config: dict) -> dict:
    return json.loads(json.dumps(config, sort_keys=True))


def fit(
    denoiser,
    draw_batch: Callable[[int, torch.Generator], object],
    *,
    steps: int,
    loss: Loss | None = None,
    batch_size: int = 512,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    warmup: int = 100,
    ema_half_life: float | None = 50_000,
    ema_rampup: float | None = None,
    weighting=None,
    t_sampling: str = "uniform",
    grad_clip: float | None = None,
    accumulate: int = 1,
    precision: str = "fp32",
    compile: bool = False,
    p_uncond: float = 0.0,
    null_cond: dict | None = None,
    out: str | Path | None = None,
    checkpoint_every: int | None = None,
    log_every: int = 50,
    resume: bool = False,
    config: dict | None = None,
    on_checkpoint: Callable[[int, EMA | None], None] | None = None,
    max_skipped_in_a_row: int = 20,
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
) -> FitResult:
    """Train ``denoiser.net`` with :func:`difflab.losses.denoising_loss`, or a network with
    another ``loss`` (see the module docstring for one step).

    Args:
        denoiser: a :class:`~difflab.Denoiser` whose ``net`` is an ``nn.Module``; with
            ``loss`` given, the ``nn.Module`` to train (or a Denoiser: its ``net``). The
            device of its first parameter is the training device.
        draw_batch: ``draw_batch(n, generator)`` -> ``x0`` (n, ...) in model
            coordinates, or ``(x0, cond)`` with ``cond`` a dict of per-sample tensors
            for the network (e.g. ``{"labels": y}``). Its randomness must come from
            ``generator`` only (exact resume depends on it).
        steps: total optimizer steps (a resumed run counts the steps already done).
        loss: a :class:`Loss` (default: :class:`DenoisingLoss` of ``denoiser`` with
            ``weighting``, ``t_sampling``, ``p_uncond`` and ``null_cond``, which belong
            to it and must be left at their defaults when ``loss`` is given).
        batch_size: the GLOBAL batch B per step, over all processes and micro-batches.
        lr, weight_decay, betas: AdamW (Loshchilov & Hutter 2019).
        warmup: linear warm-up steps, then cosine decay to 0.1 lr (:func:`lr_factor`).
        ema_half_life: EMA half-life in samples (None: no EMA); ``ema_rampup`` caps it
            at that fraction of the samples seen (Karras et al. 2022 use 0.05).
        weighting, t_sampling: the loss weighting and the density of training times
            (:func:`difflab.losses.denoising_loss`, :func:`difflab.losses.sample_t`) of
            the default loss.
        grad_clip: clip the global gradient norm to this value (None: no clipping).
        accumulate: micro-batches per process per step (gradient accumulation).
        precision: ``"fp32"``, ``"bf16"`` (bfloat16 autocast for the forward pass; weights
            stay float32) or ``"auto"`` (bf16 where native: :func:`difflab.precision.resolve_precision`).
        compile: run the network through ``torch.compile`` (:func:`difflab.compiler.compiled`;
            eager with a one-line warning where the machine cannot compile). The first
            steps pay the compilation; the saved weights and checkpoints are the network's
            own, so a compiled run saves and resumes like an eager one.
        p_uncond: label-dropout probability for classifier-free guidance;
            ``null_cond`` the replacing condition (default ``{"labels": num_classes}``
            from the network's config).
        out: run folder for the checkpoint, the JSONL log and the loss curve (None:
            write nothing). A folder holding a checkpoint is only continued
            (``resume=True``), never overwritten.
        checkpoint_every: write a checkpoint every this many steps (and at the end).
        log_every: steps per log line.
        resume: continue from ``out``'s checkpoint; it must exist and match the
            network and the config (except :data:`RESUME_MAY_CHANGE`).
        config: JSON-able description of the run (network, data ...), stored in the
            checkpoint and compared on resume; fit adds its own settings as ``"fit"``.
        on_checkpoint: called on rank 0 as ``on_checkpoint(step, ema)`` after each checkpoint.
        max_skipped_in_a_row: raise FloatingPointError after this many consecutive
            non-finite steps.
        seed: the data and noise generators are seeded from it (:func:`stream_seed`).
        progress: show a tqdm bar (rank 0) with the loss, images/s and the ETA.
    """
    from tqdm.auto import tqdm

    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if accumulate < 1:
        raise ValueError(f"accumulate must be a positive integer, got {accumulate}")
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer or None, got {checkpoint_every}")
    if resume and out is None:
        raise ValueError("resume=True needs the run folder out= that holds the checkpoint")
    w = world()
    if batch_size % w.size:
        raise ValueError(f"batch_size {batch_size} must be divisible by the number of processes {w.size}")
    local_b = batch_size // w.size
    if local_b < accumulate:
        raise ValueError(f"each process's {local_b} samples cannot be cut into accumulate={accumulate} micro-batches")

    if loss is None:
        net = denoiser.net
        loss = DenoisingLoss(denoiser, weighting, t_sampling, p_uncond, null_cond)
    else:
        if weighting is not None or t_sampling != "uniform" or p_uncond != 0.0 or null_cond is not None:
            raise ValueError("weighting, t_sampling, p_uncond and null_cond belong to the default denoising loss; "
                             "with loss= given, set them on that loss (e.g. DenoisingLoss(denoiser, ...))")
        net = denoiser if isinstance(denoiser, torch.nn.Module) else getattr(denoiser, "net", None)
    if not isinstance(net, torch.nn.Module):
        what = "denoiser.net" if hasattr(denoiser, "net") else "the model"
        raise TypeError(f"fit trains an nn.Module; {what} is a {type(net if hasattr(denoiser, 'net') else denoiser).__name__}")
    device = next(net.parameters()).device
    precision = resolve_precision(precision, device)

    fit_config = {
        "steps": int(steps), "batch_size": int(batch_size), "lr": lr, "weight_decay": weight_decay,
        "betas": list(betas), "warmup": warmup, "ema_half_life": ema_half_life, "ema_rampup": ema_rampup,
        "grad_clip": grad_clip, "accumulate": accumulate, "precision": precision, "seed": seed,
        "compile": bool(compile),
    }
    clash = sorted(set(fit_config) & set(loss.config))
    if clash:
        raise ValueError(f"the loss's config keys {clash} are fit's own settings; rename them")
    fit_config.update(loss.config)
    full_config = canonical_config({**(config or {}), "fit": fit_config})

    opt = torch.optim.AdamW(net.parameters(), lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, min(warmup, steps)))
    ema = EMA(net, ema_half_life) if ema_half_life else None
    g_data = torch.Generator().manual_seed(stream_seed(seed, "data"))
    g_noise = torch.Generator().manual_seed(stream_seed(seed, "noise"))
    result = FitResult(ema=ema)
    counters = {"samples_seen": 0, "skipped": 0, "interval_loss": 0.0, "interval_steps": 0, "interval_skipped": 0,
                "interval_terms": {}}

    out = Path(out) if out is not None else None
    ckpt_path = out / CHECKPOINT if out is not None else None
    start = 0
    if not resume and ckpt_path is not None and ckpt_path.exists():
        raise FileExistsError(f"{ckpt_path} exists: resume=True continues that run; to start afresh, "
                              "remove it or choose another folder")
    if resume:
        ckpt = read_checkpoint(ckpt_path)
        diffs = config_differences(ckpt.config, full_config, ignore=RESUME_MAY_CHANGE)
        if diffs:
            raise ValueError(f"{ckpt_path} was written by a different run; resume needs the same settings: "
                             + "; ".join(diffs[:5]) + (" ..." if len(diffs) > 5 else ""))
        check_state_dict(ckpt.model, net.state_dict(), ckpt_path, "the network")
        net.load_state_dict(ckpt.model)
        if ema is not None:
            ema.load_state_dict(ckpt.ema)
        try:
            opt.load_state_dict(ckpt.optimizer)
            sched.load_state_dict(ckpt.scheduler)
        except (ValueError, KeyError) as e:
            raise ValueError(f"{ckpt_path}: the optimizer state does not fit this network ({e})") from None
        restore_rng(ckpt.rng, w, g_data, g_noise, ckpt_path)
        counters.update(ckpt.counters)
        start = ckpt.step
        result.checkpoint = ckpt_path
    else:
        torch.manual_seed(stream_seed(seed, f"torch/{w.rank}"))  # dropout, per process
    result.step, result.samples_seen, result.skipped = start, counters["samples_seen"], counters["skipped"]

    if compile:
        from ..compiler import compiled

        objective = _Objective(compiled(net), loss)
    else:
        objective = _Objective(net, loss)
    if w.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        objective = DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)

    loss_log = None
    if out is not None and w.is_main:
        out.mkdir(parents=True, exist_ok=True)
        for name in (CHECKPOINT, LOG, LOSS_CURVE):  # temporary files of a write that was killed
            for stale in out.glob(f".{name}.*"):
                stale.unlink(missing_ok=True)
        loss_log = LossLog(out / LOG, resume_step=start if resume else None)

    def checkpoint(step: int) -> None:
        rng = rng_state(w, g_data, g_noise)  # a collective: every rank takes part
        if not w.is_main:
            return
        save_checkpoint(ckpt_path, Checkpoint(
            step=step, model=net.state_dict(), ema=ema.state_dict() if ema is not None else None,
            optimizer=opt.state_dict(), scheduler=sched.state_dict(), config=full_config, rng=rng,
            counters=dict(counters)))
        result.checkpoint = ckpt_path
        records = loss_log.records()
        if records:
            plot_loss_curve(records, out / LOSS_CURVE, title=desc)
        if on_checkpoint is not None:
            on_checkpoint(step, ema)

    params = [p for p in net.parameters() if p.requires_grad]
    autocast = precision_autocast(precision, device)
    net.train()
    bar = tqdm(total=steps, initial=start, desc=desc, disable=not progress or not w.is_main,
               dynamic_ncols=True, unit="step")
    running, in_a_row, train_time, interval_time, interval_n = None, 0, 0.0, 0.0, 0
    shard = slice(w.rank * local_b, (w.rank + 1) * local_b)
    try:
        for step in range(start, steps):
            t0 = time.perf_counter()
            x0, cond = _split_batch(draw_batch(batch_size, g_data))
            if x0.shape[0] != batch_size:
                raise ValueError(f"draw_batch({batch_size}, generator) returned {x0.shape[0]} samples")
            cond, noise = loss.draw(x0, cond, g_noise)
            # this process's shard, cut into micro-batches
            x_s = x0[shard]
            c_s = _take(cond, shard, batch_size, "cpu")
            n_s = _take(noise, shard, batch_size, "cpu")
            bounds = torch.linspace(0, local_b, accumulate + 1).round().long().tolist()
            opt.zero_grad(set_to_none=True)
            loss_sum, term_sums = torch.zeros((), dtype=torch.float64, device=device), {}
            for i in range(accumulate):
                part = slice(bounds[i], bounds[i + 1])
                sync = contextlib.nullcontext() if i == accumulate - 1 or w.size == 1 else objective.no_sync()
                with sync:
                    with autocast:
                        part_loss, terms = _loss_and_terms(objective(
                            x_s[part].to(device), _take(c_s, part, local_b, device), _take(n_s, part, local_b, "cpu")))
                    share = (bounds[i + 1] - bounds[i]) / local_b
                    (part_loss * share).backward()
                loss_sum += part_loss.detach().double() * share
                for name, term in terms.items():
                    term_sums[name] = term_sums.get(name, 0.0) + torch.as_tensor(term).detach().to(device).double() * share
            names = sorted(term_sums)
            if w.size > 1:
                reduced = torch.stack([loss_sum, *(term_sums[k] for k in names)])
                torch.distributed.all_reduce(reduced)
                reduced /= w.size
                loss_sum, term_sums = reduced[0], dict(zip(names, reduced[1:]))
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            value = loss_sum.item()
            finite = math.isfinite(value) and bool(torch.isfinite(grad_norm))
            if finite:
                if grad_clip is not None:
                    torch.nn.utils.clip_grads_with_norm_(params, grad_clip, grad_norm)
                opt.step()
                in_a_row = 0
            else:
                counters["skipped"] += 1
                counters["interval_skipped"] += 1
                in_a_row += 1
                if w.is_main:
                    log.warning("step %d: non-finite loss %s or gradient norm %s, step skipped (%d so far)",
                                step + 1, value, grad_norm.item(), counters["skipped"])
                if in_a_row >= max_skipped_in_a_row:
                    raise FloatingPointError(f"{in_a_row} steps in a row had a non-finite loss or gradient "
                                             f"(last at step {step + 1}); lower the learning rate or check the data")
            lr_used = opt.param_groups[0]["lr"]
            with warnings.catch_warnings():  # the schedule follows the step count, skipped steps included
                warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()` before"), UserWarning)
                sched.step()
            counters["samples_seen"] += batch_size
            if finite and ema is not None:
                ema.update(net, batch_size, _half_life_at(ema.half_life, counters["samples_seen"], ema_rampup))
            elapsed = time.perf_counter() - t0
            train_time += elapsed
            interval_time += elapsed
            interval_n += 1
            done = step + 1
            result.losses.append(value if finite else float("nan"))
            result.step, result.samples_seen, result.skipped = done, counters["samples_seen"], counters["skipped"]
            if finite:
                counters["interval_loss"] += value
                counters["interval_steps"] += 1
                for name in names:
                    counters["interval_terms"][name] = counters["interval_terms"].get(name, 0.0) + term_sums[name].item()
                running = value if running is None else 0.98 * running + 0.02 * value
            bar.update(1)
            if done % 10 == 0 or done == steps or done == start + 1:
                post = {"loss": f"{running:.4f}" if running is not None else "nan",
                        "img/s": f"{batch_size * (done - start) / max(train_time, 1e-9):.1f}"}
                if counters["skipped"]:
                    post["skipped"] = counters["skipped"]
                bar.set_postfix(post, refresh=False)
            if done % log_every == 0 or done == steps:
                record = {
                    "step": done,
                    "loss": counters["interval_loss"] / counters["interval_steps"] if counters["interval_steps"] else None,
                    **{name: total / counters["interval_steps"] if counters["interval_steps"] else None
                       for name, total in counters["interval_terms"].items()},
                    "lr": lr_used,
                    "grad_norm": grad_norm.item() if finite else None,  # of the last step, before clipping
                    "images_per_s": batch_size * interval_n / interval_time if interval_time > 0 else None,
                    "samples": counters["samples_seen"],
                    "skipped": counters["interval_skipped"],
                    "time": time.time(),
                }
                if loss_log is not None:
                    loss_log.append(record)
                counters.update(interval_loss=0.0, interval_steps=0, interval_skipped=0, interval_terms={})
                interval_time, interval_n = 0.0, 0
            if ckpt_path is not None and ((checkpoint_every and done % checkpoint_every == 0) or done == steps):
                checkpoint(done)
    finally:
        bar.close()
        net.eval()
    return result

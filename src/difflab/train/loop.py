"""The training engine: one function, :func:`fit`.

One step of :func:`fit` on a global batch of B samples:

1. draw the batch ``draw_batch(B, g_data)`` and, for every sample, its time t, its
   noise eps and its label-dropout coin from ``g_noise``: all for the WHOLE global
   batch, on the CPU, before any split, so the randomness of sample i does not depend
   on how the batch is cut into processes or micro-batches;
2. each of the W processes (:mod:`difflab.train.distributed`) takes its shard of B/W
   samples and cuts it into ``accumulate`` micro-batches; each micro-batch's loss
   (:func:`difflab.losses.denoising_loss`, under bf16 autocast if asked) is weighted
   by its share of the shard, so the accumulated gradient is the gradient of the
   mean loss over the shard, and DDP's all-reduce averages the W shards into the
   gradient of the mean over the global batch: k micro-batches of b are one batch
   of k b;
3. the gradient norm is computed (and clipped to ``grad_clip``, Pascanu et al. 2013);
   a step whose loss or gradient is not finite is skipped: counted and logged, with
   no change to the weights, the optimizer or the EMA;
4. AdamW (decoupled weight decay, Loshchilov & Hutter 2019) updates the float32
   master weights, the learning rate follows a linear warm-up (Goyal et al. 2017)
   then a cosine decay (Loshchilov & Hutter 2017) to 10%, and the EMA of the weights
   (half-life in samples, Karras et al. 2022 app. C) follows.

Every ``checkpoint_every`` steps (and at the end) rank 0 writes one checkpoint file
(:mod:`difflab.train.checkpoint`) holding the weights, EMA, optimizer, scheduler,
every random generator and the config; ``resume=True`` continues from it and ends
bitwise where an uninterrupted run ends (on the CPU). The loss log is JSON lines
(:mod:`difflab.train.log`) with a loss-curve PNG beside it.

Mixed precision: ``bf16=True`` runs the forward pass under ``torch.autocast`` in
bfloat16 (Kalamkar et al. 2019) while the weights, gradients and optimizer state stay
float32 (the "master weights" of Micikevicius et al. 2018). bfloat16 has float32's
exponent range, so no loss scaling is needed.
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
from typing import Callable

import torch

from ..losses import denoising_loss, sample_t
from ..tensors import append_dims
from .checkpoint import Checkpoint, check_state_dict, config_differences, read_checkpoint, save_checkpoint
from .distributed import World, all_gather_tensor, world
from .ema import EMA, ema_half_life as _half_life_at
from .log import LossLog, plot_loss_curve

__all__ = [
    "fit",
    "FitResult",
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
#: (up to float rounding for ``accumulate``) or only extend it (``steps``)
RESUME_MAY_CHANGE = ("fit.steps", "fit.accumulate")


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


def _split_batch(batch) -> tuple[torch.Tensor, dict]:
    if isinstance(batch, torch.Tensor):
        return batch, {}
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], dict):
        return batch[0], dict(batch[1])
    raise TypeError(f"draw_batch must return a tensor or (tensor, cond dict), got {type(batch).__name__}")


def _take(cond: dict, index: slice, n: int, device) -> dict:
    return {k: (v[index].to(device) if isinstance(v, torch.Tensor) and v.ndim > 0 and v.shape[0] == n else v)
            for k, v in cond.items()}


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
    bf16: bool = False,
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
    """Train ``denoiser.net`` with :func:`difflab.losses.denoising_loss` (see the module
    docstring for one step).

    Args:
        denoiser: a :class:`~difflab.Denoiser` whose ``net`` is an ``nn.Module``; its
            device (that of the first parameter) is the training device.
        draw_batch: ``draw_batch(n, generator)`` -> ``x0`` (n, ...) in model
            coordinates, or ``(x0, cond)`` with ``cond`` a dict of per-sample tensors
            for the network (e.g. ``{"labels": y}``). Its randomness must come from
            ``generator`` only (exact resume depends on it).
        steps: total optimizer steps (a resumed run counts the steps already done).
        batch_size: the GLOBAL batch B per step, over all processes and micro-batches.
        lr, weight_decay, betas: AdamW (Loshchilov & Hutter 2019).
        warmup: linear warm-up steps, then cosine decay to 0.1 lr (:func:`lr_factor`).
        ema_half_life: EMA half-life in samples (None: no EMA); ``ema_rampup`` caps it
            at that fraction of the samples seen (Karras et al. 2022 use 0.05).
        weighting, t_sampling: the loss weighting and the density of training times
            (:func:`difflab.losses.denoising_loss`, :func:`difflab.losses.sample_t`).
        grad_clip: clip the global gradient norm to this value (None: no clipping).
        accumulate: micro-batches per process per step (gradient accumulation).
        bf16: bfloat16 autocast for the forward pass; weights stay float32.
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
    if not 0.0 <= p_uncond < 1.0:
        raise ValueError(f"p_uncond must be in [0, 1), got {p_uncond}")
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

    net = denoiser.net
    if not isinstance(net, torch.nn.Module):
        raise TypeError(f"fit trains an nn.Module; denoiser.net is a {type(net).__name__}")
    device = next(net.parameters()).device
    if p_uncond > 0 and null_cond is None:
        from ..guidance import null_labels

        null_cond = null_labels(denoiser)

    fit_config = {
        "steps": int(steps), "batch_size": int(batch_size), "lr": lr, "weight_decay": weight_decay,
        "betas": list(betas), "warmup": warmup, "ema_half_life": ema_half_life, "ema_rampup": ema_rampup,
        "weighting": weighting if weighting is None or isinstance(weighting, str) else getattr(weighting, "__qualname__", "custom"),
        "t_sampling": t_sampling, "grad_clip": grad_clip, "accumulate": accumulate, "bf16": bool(bf16), "p_uncond": p_uncond,
        "null_cond": {k: v.tolist() if isinstance(v, torch.Tensor) else v for k, v in (null_cond or {}).items()},
        "seed": seed,
    }
    full_config = canonical_config({**(config or {}), "fit": fit_config})

    opt = torch.optim.AdamW(net.parameters(), lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, min(warmup, steps)))
    ema = EMA(net, ema_half_life) if ema_half_life else None
    g_data = torch.Generator().manual_seed(stream_seed(seed, "data"))
    g_noise = torch.Generator().manual_seed(stream_seed(seed, "noise"))
    result = FitResult(ema=ema)
    counters = {"samples_seen": 0, "skipped": 0, "interval_loss": 0.0, "interval_steps": 0, "interval_skipped": 0}

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

    train_net = net
    train_denoiser = denoiser
    if w.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        train_denoiser = copy.copy(denoiser)
        train_denoiser.net = train_net

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
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(bf16))
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
            t, noise = draw_step_noise(denoiser.schedule, x0, g_noise, t_sampling)
            cond = drop_conditions(cond, p_uncond, null_cond or {}, g_noise)
            # this process's shard, cut into micro-batches
            x_s, t_s, n_s = x0[shard], t[shard], noise[shard]
            c_s = _take(cond, shard, batch_size, "cpu")
            bounds = torch.linspace(0, local_b, accumulate + 1).round().long().tolist()
            opt.zero_grad(set_to_none=True)
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            for i in range(accumulate):
                part = slice(bounds[i], bounds[i + 1])
                sync = contextlib.nullcontext() if i == accumulate - 1 or w.size == 1 else train_net.no_sync()
                with sync:
                    with autocast:
                        loss = denoising_loss(train_denoiser, x_s[part].to(device), t=t_s[part],
                                              noise=n_s[part].to(device), weighting=weighting, t_sampling=t_sampling,
                                              cond=_take(c_s, part, local_b, device))
                    share = (bounds[i + 1] - bounds[i]) / local_b
                    (loss * share).backward()
                loss_sum += loss.detach().double() * share
            if w.size > 1:
                torch.distributed.all_reduce(loss_sum)
                loss_sum /= w.size
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
                    "lr": lr_used,
                    "grad_norm": grad_norm.item() if finite else None,  # of the last step, before clipping
                    "images_per_s": batch_size * interval_n / interval_time if interval_time > 0 else None,
                    "samples": counters["samples_seen"],
                    "skipped": counters["interval_skipped"],
                    "time": time.time(),
                }
                if loss_log is not None:
                    loss_log.append(record)
                counters.update(interval_loss=0.0, interval_steps=0, interval_skipped=0)
                interval_time, interval_n = 0.0, 0
            if ckpt_path is not None and ((checkpoint_every and done % checkpoint_every == 0) or done == steps):
                checkpoint(done)
    finally:
        bar.close()
        net.eval()
    return result

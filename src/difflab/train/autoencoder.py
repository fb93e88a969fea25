"""Train the KL autoencoder of latent diffusion (Rombach et al. 2022, sec. 3, app. G).

The objective, per image of C x H x W elements, with z ~ q(z | x) by the
reparameterisation trick (Kingma & Welling 2014, eq. 10):

    loss = mean (x - D(z))^2  +  kl_weight * KL(q(z | x) || N(0, I)) / (C H W)

a reconstruction term and the KL term of the VAE bound (Kingma & Welling 2014,
eq. 7), both per image element. The reconstruction is squared error by default
(``reconstruction="l2"``), the quantity PSNR measures; Rombach et al. use L1 plus a
perceptual and an adversarial term, which the flat-coloured images here do not
need, and L1 (``"l1"``) learned these images markedly slower: it lets a model paint
the majority background and ignore the small objects for a long time.

The default ``kl_weight = 1e-6`` per element is the "KL-reg." regime of Rombach et
al.: their 1e-6 weighs a KL summed over the latent against a reconstruction summed
over the pixels, i.e. 1e-6 per pixel element as here. It is a leash that keeps the
latent from drifting to huge values, not a real prior: the posterior becomes nearly
a point and the latent scale is fixed afterwards by ``scale_factor``.

:func:`train_autoencoder` is a small loop rather than :func:`difflab.train.fit`,
which is built around the denoising loss; it shares the engine's parts: the
one-file checkpoint with exact resume (:mod:`difflab.train.checkpoint`), the JSONL
log and loss curve (:mod:`difflab.train.log`), the warm-up + cosine learning rate
(:func:`~difflab.train.loop.lr_factor`) and the named random streams
(:func:`~difflab.train.loop.stream_seed`). One process (no DDP, no EMA).

Its reconstruction PSNR against training steps is in docs/text-to-image.md.

After training (and at every checkpoint) the model folder is (re)written: the
latent ``scale_factor = 1 / std(z)`` is estimated on ``scale_images`` draws and
stored in the network config (:meth:`AutoencoderKL.estimate_scale_factor`),
and the reconstruction PSNR on ``eval_images`` held-out draws (random streams the
training never sees; ``eval_draw`` may give a held-out split) goes into
``config.json`` under ``"training"`` and into the log.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..nets.autoencoder import AutoencoderKL
from ..saving import save_autoencoder
from .checkpoint import (Checkpoint, check_state_dict, config_differences, read_checkpoint,
                         save_checkpoint)
from .distributed import world
from .log import LossLog, plot_loss_curve
from .run_folder import trainer
from .loop import CHECKPOINT, LOG, LOSS_CURVE, canonical_config, restore_rng, rng_state, lr_factor, stream_seed

__all__ = ["train_autoencoder", "autoencoder_loss", "reconstruction_psnr", "crop_each"]

#: config keys a resumed run may change
RESUME_MAY_CHANGE = ("fit.steps",)


#: reconstruction losses per element: name -> f(x_hat - x)
RECONSTRUCTION = {"l1": torch.abs, "l2": torch.square}


def autoencoder_loss(autoencoder: AutoencoderKL, x: torch.Tensor, generator: torch.Generator | None = None,
                     kl_weight: float = 1e-6, reconstruction: str = "l2") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, reconstruction term, KL per element) for a batch x; see the module docstring."""
    if reconstruction not in RECONSTRUCTION:
        raise ValueError(f"unknown reconstruction loss {reconstruction!r}; expected one of: {', '.join(RECONSTRUCTION)}")
    posterior = autoencoder.encode(x)
    x_hat = autoencoder.decode(posterior.sample(generator))
    rec = RECONSTRUCTION[reconstruction](x_hat - x).mean()
    kl = posterior.kl().mean() / x[0].numel()
    return rec + kl_weight * kl, rec, kl


@torch.no_grad()
def reconstruction_psnr(autoencoder: AutoencoderKL, images: torch.Tensor, batch_size: int = 64,
                        data_range: tuple[float, float] = (-1.0, 1.0)) -> float:
    """Mean over images of PSNR = 10 log10(peak^2 / MSE) in dB, peak = the data range's width
    (2 for [-1, 1]), of ``decode(mode of q(z | x))`` clipped to the range."""
    from ..metrics.image import psnr

    lo, hi = data_range
    device = next(autoencoder.parameters()).device
    values = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device)
        x_hat = autoencoder.decode(autoencoder.encode(x).mode()).clamp(lo, hi)
        values += [psnr(a.cpu(), b.cpu(), data_range=hi - lo) for a, b in zip(x_hat, x)]
    return sum(values) / len(values)


def crop_each(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A ``size`` x ``size`` crop of each image, at a position drawn from ``generator``."""
    n, _, h, w = images.shape
    if not (0 < size <= min(h, w)):
        raise ValueError(f"crop={size} must be positive and at most the image side {min(h, w)}")
    top = torch.randint(0, h - size + 1, (n,), generator=generator).tolist()
    left = torch.randint(0, w - size + 1, (n,), generator=generator).tolist()
    return torch.stack([x[:, i:i + size, j:j + size] for x, i, j in zip(images, top, left)])


def _check_images(x, n: int, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] != n:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must return a tensor of shape ({n}, C, H, W), got {got}")
    if not x.is_floating_point():
        raise ValueError(f"{what} must return float images in [-1, 1], got {x.dtype}")
    if x.numel() and (x.min() < -1.001 or x.max() > 1.001):
        raise ValueError(f"{what} must return images in [-1, 1], got values in "
                         f"[{x.min().item():.3g}, {x.max().item():.3g}]")
    return x.float()


@trainer
def train_autoencoder(
    draw: Callable[[int, torch.Generator], torch.Tensor],
    *,
    out: str | Path,
    eval_draw: Callable[[int, torch.Generator], torch.Tensor] | None = None,
    crop: int | None = None,
    steps: int = 2500,
    batch_size: int = 8,
    lr: float = 2e-3,
    channels: int = 16,
    channel_mult: Sequence[int] = (1, 2, 2),
    num_res_blocks: int = 1,
    latent_channels: int = 4,
    groups: int = 8,
    mid_attention: bool = False,
    kl_weight: float = 1e-6,
    reconstruction: str = "l2",
    warmup: int = 50,
    grad_clip: float | None = 1.0,
    eval_images: int = 256,
    scale_images: int = 256,
    checkpoint_every: int = 500,
    log_every: int = 25,
    resume: bool = False,
    overwrite: bool = False,
    data: dict | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Path:
    """Train an :class:`~difflab.nets.autoencoder.AutoencoderKL` on images from ``draw``
    and save it as a folder at ``out``.

    Args:
        draw: ``draw(n, generator)`` -> (n, C, H, W) float images in [-1, 1]; its
            randomness must come from ``generator`` only (exact resume and a held-out
            eval stream depend on it). H and W must be divisible by the factor
            ``2 ** (len(channel_mult) - 1)``.
        out: the model folder (``config.json``, ``model.safetensors``) and the run folder
            (``checkpoint.safetensors``, ``train_log.jsonl``, ``loss.png``).
        eval_draw: like ``draw``, for the held-out PSNR images and the scale-factor
            images (each from its own random stream); default ``draw``. Give it when
            ``draw`` gives a training split and a held-out split is elsewhere.
        crop: train on random ``crop`` x ``crop`` crops of the drawn images (one
            position per image; :func:`crop_each`), while PSNR and scale factor are
            measured on whole images. The network is fully convolutional, so it
            applies to any size; a step on 32x32 crops of 64x64 images costs a
            quarter and, per CPU second, trained the shapes autoencoder faster.
            Must be divisible by the downsampling factor.
        steps, batch_size, lr, warmup, grad_clip: AdamW steps of ``batch_size`` images,
            linear warm-up then cosine decay to 10% (:func:`~difflab.train.loop.lr_factor`),
            global gradient-norm clipping (None: none).
        channels, channel_mult, num_res_blocks, latent_channels, groups, mid_attention:
            the network (:class:`~difflab.nets.autoencoder.AutoencoderKL`).
        kl_weight: weight of the KL term per image element (module docstring).
        reconstruction: ``"l2"`` (squared error, what PSNR measures) or ``"l1"``.
        eval_images, scale_images: how many images (from ``eval_draw``, each set from its
            own random stream) measure the reconstruction PSNR and the latent scale factor.
        checkpoint_every, log_every: steps between checkpoints (and folder exports) and
            between log lines.
        resume: continue from ``out``'s checkpoint (the same settings, ``steps`` may grow).
        data: a JSON-able description of the data source, stored in the config
            (e.g. ``{"name": "shapes", "size": 64}``).
        seed: seeds the initial weights and the data, noise and eval streams.
        device: where to train (default: CUDA if available, else CPU).

    Returns ``out``. ``config.json`` holds ``"net"`` (with ``scale_factor``) and
    ``"training"`` (with ``psnr``, the held-out reconstruction PSNR in dB).
    """
    from tqdm.auto import tqdm

    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if batch_size < 1 or eval_images < 1 or scale_images < 2:
        raise ValueError(f"batch_size and eval_images must be positive and scale_images at least 2, "
                         f"got {batch_size}, {eval_images}, {scale_images}")
    if checkpoint_every < 1 or log_every < 1:
        raise ValueError(f"checkpoint_every and log_every must be positive, got {checkpoint_every}, {log_every}")
    if kl_weight < 0:
        raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
    out = Path(out)
    ckpt_path = out / CHECKPOINT
    w = world()
    if w.size > 1:
        raise RuntimeError("train_autoencoder runs in one process; launch it without torchrun")
    device = torch.device(device) if device is not None else w.device

    if reconstruction not in RECONSTRUCTION:
        raise ValueError(f"unknown reconstruction loss {reconstruction!r}; expected one of: {', '.join(RECONSTRUCTION)}")
    g_data = torch.Generator().manual_seed(stream_seed(seed, "data"))
    g_noise = torch.Generator().manual_seed(stream_seed(seed, "noise"))
    held_out = eval_draw if eval_draw is not None else draw
    what = "eval_draw" if eval_draw is not None else "draw"
    eval_set = _check_images(held_out(eval_images, torch.Generator().manual_seed(stream_seed(seed, "eval"))),
                             eval_images, what)
    scale_set = _check_images(held_out(scale_images, torch.Generator().manual_seed(stream_seed(seed, "scale"))),
                              scale_images, what)
    image_shape = list(eval_set.shape[1:])

    torch.manual_seed(seed)
    ae = AutoencoderKL(in_channels=image_shape[0], latent_channels=latent_channels, channels=channels,
                       channel_mult=channel_mult, num_res_blocks=num_res_blocks, groups=groups,
                       mid_attention=mid_attention).to(device)
    for side in [*image_shape[1:], *([crop] if crop is not None else [])]:
        if side % ae.factor:
            raise ValueError(f"image sides {image_shape[1]}x{image_shape[2]}{f' and crop={crop}' if crop else ''} "
                             f"must be divisible by the downsampling factor {ae.factor} of channel_mult={list(channel_mult)}")
    if crop is not None and not 0 < crop <= min(image_shape[1:]):
        raise ValueError(f"crop={crop} must be positive and at most the image side {min(image_shape[1:])}")
    data_cfg = {**(data or {}), "shape": image_shape, "range": [-1.0, 1.0]}
    fit_cfg = {"steps": int(steps), "batch_size": batch_size, "lr": lr, "warmup": warmup, "grad_clip": grad_clip,
               "kl_weight": kl_weight, "reconstruction": reconstruction, "crop": crop, "eval_images": eval_images, "scale_images": scale_images, "seed": seed}
    full_config = canonical_config({"net": ae.config, "data": data_cfg, "fit": fit_cfg})

    opt = torch.optim.AdamW(ae.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, min(warmup, steps)))
    counters = {"samples_seen": 0, "skipped": 0}
    start = 0
    if resume:
        ckpt = read_checkpoint(ckpt_path)
        diffs = config_differences(ckpt.config, full_config, ignore=RESUME_MAY_CHANGE)
        if diffs:
            raise ValueError(f"{ckpt_path} was written by a different run; resume needs the same settings: "
                             + "; ".join(diffs[:5]) + (" ..." if len(diffs) > 5 else ""))
        check_state_dict(ckpt.model, ae.state_dict(), ckpt_path, "the autoencoder")
        ae.load_state_dict(ckpt.model)
        opt.load_state_dict(ckpt.optimizer)
        sched.load_state_dict(ckpt.scheduler)
        restore_rng(ckpt.rng, w, g_data, g_noise, ckpt_path)
        counters.update(ckpt.counters)
        start = ckpt.step
    loss_log = LossLog(out / LOG, resume_step=start if resume else None)
    desc = f"train autoencoder{' ' + data['name'] if data and 'name' in data else ''}"

    def export(step: int) -> None:
        ae.eval()
        scale = ae.estimate_scale_factor(scale_set.to(device), torch.Generator().manual_seed(stream_seed(seed, "z")))
        psnr = reconstruction_psnr(ae, eval_set)
        records = loss_log.records()
        last = next((r for r in reversed(records) if r.get("rec") is not None), {})
        info = {**fit_cfg, "steps_done": step, "psnr": round(psnr, 3), "scale_factor": scale,
                "final_rec_loss": last.get("rec"), "final_kl": last.get("kl"),
                "params": sum(p.numel() for p in ae.parameters())}
        save_autoencoder(out, ae, {"data": data_cfg, "training": info})
        loss_log.append({"step": step, "psnr": info["psnr"], "scale_factor": scale, "time": time.time()})
        ae.train()

    def checkpoint(step: int) -> None:
        save_checkpoint(ckpt_path, Checkpoint(
            step=step, model=ae.state_dict(), optimizer=opt.state_dict(), scheduler=sched.state_dict(),
            config=full_config, rng=rng_state(w, g_data, g_noise), counters=dict(counters)))
        records = loss_log.records()
        if records:
            plot_loss_curve(records, out / LOSS_CURVE, title=desc)
        export(step)

    interval = {"loss": 0.0, "rec": 0.0, "kl": 0.0, "n": 0, "time": 0.0, "steps": 0}
    in_a_row = 0
    ae.train()
    bar = tqdm(total=steps, initial=start, desc=desc, disable=not progress, dynamic_ncols=True, unit="step")
    try:
        for step in range(start, steps):
            t0 = time.perf_counter()
            x = _check_images(draw(batch_size, g_data), batch_size, "draw")
            if crop is not None:
                x = crop_each(x, crop, g_data)
            x = x.to(device)
            loss, rec, kl = autoencoder_loss(ae, x, g_noise, kl_weight, reconstruction)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in ae.parameters() if p.grad is not None])
            value = loss.item()
            finite = math.isfinite(value) and bool(torch.isfinite(grad_norm))
            if finite:
                if grad_clip is not None:
                    torch.nn.utils.clip_grads_with_norm_(list(ae.parameters()), grad_clip, grad_norm)
                opt.step()
                in_a_row = 0
            else:
                counters["skipped"] += 1
                in_a_row += 1
                if in_a_row >= 20:
                    raise FloatingPointError(f"{in_a_row} steps in a row had a non-finite loss or gradient "
                                             f"(last at step {step + 1}); lower the learning rate or check the data")
            lr_used = opt.param_groups[0]["lr"]
            with warnings.catch_warnings():  # the schedule follows the step count, skipped steps included
                warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()` before"), UserWarning)
                sched.step()
            counters["samples_seen"] += batch_size
            interval["time"] += time.perf_counter() - t0
            interval["steps"] += 1
            if finite:
                interval["loss"] += value
                interval["rec"] += rec.item()
                interval["kl"] += kl.item()
                interval["n"] += 1
            done = step + 1
            bar.update(1)
            if done % 10 == 0 or done == steps:
                bar.set_postfix({"rec": f"{rec.item():.4f}", "img/s": f"{batch_size * interval['steps'] / max(interval['time'], 1e-9):.1f}"},
                                refresh=False)
            if done % log_every == 0 or done == steps:
                n = interval["n"]
                loss_log.append({
                    "step": done, "loss": interval["loss"] / n if n else None, "rec": interval["rec"] / n if n else None,
                    "kl": interval["kl"] / n if n else None, "lr": lr_used,
                    "grad_norm": grad_norm.item() if finite else None,
                    "images_per_s": batch_size * interval["steps"] / interval["time"] if interval["time"] > 0 else None,
                    "samples": counters["samples_seen"], "skipped": interval["steps"] - n, "time": time.time(),
                })
                interval = dict.fromkeys(interval, 0.0)
            if done % checkpoint_every == 0 or done == steps:
                checkpoint(done)
    finally:
        bar.close()
        ae.eval()
    return out


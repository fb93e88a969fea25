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

:func:`train_autoencoder` trains with the engine, :func:`difflab.train.fit`, given
this objective as :class:`AutoencoderLoss`: AdamW with warm-up + cosine decay,
gradient clipping, the non-finite guard, the one-file checkpoint with exact resume,
the JSONL log (with ``rec`` and ``kl`` beside the loss) and DDP under ``torchrun``;
no EMA. The reparameterisation noise eps of every image is drawn for the whole
global batch on the CPU from fit's noise stream (:meth:`AutoencoderLoss.draw`), so a
run does not depend on how the batch is cut into processes or micro-batches.

Its reconstruction PSNR against training steps is in docs/text-to-image.md.

After training (and at every checkpoint) the model folder is (re)written: the
latent ``scale_factor = 1 / std(z)`` is estimated on ``scale_images`` draws and
stored in the network config (:meth:`AutoencoderKL.estimate_scale_factor`),
and the reconstruction PSNR on ``eval_images`` held-out draws (random streams the
training never sees; ``eval_draw`` may give a held-out split) goes into
``config.json`` under ``"training"`` and into the log.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..nets.autoencoder import AutoencoderKL
from ..io.folders import save_autoencoder
from .distributed import init_distributed
from .log import append_record, read_log
from .loop import LOG, fit, stream_seed
from .run_folder import trainer

__all__ = ["train_autoencoder", "autoencoder_loss", "AutoencoderLoss", "reconstruction_psnr", "crop_each"]


#: reconstruction losses per element: name -> f(x_hat - x)
RECONSTRUCTION = {"l1": torch.abs, "l2": torch.square}


def autoencoder_loss(autoencoder: AutoencoderKL, x: torch.Tensor, generator: torch.Generator | None = None,
                     kl_weight: float = 1e-6, reconstruction: str = "l2",
                     noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, reconstruction term, KL per element) for a batch x; see the module docstring.

    z = mean + std * eps (Kingma & Welling 2014, eq. 10) with eps = ``noise`` when given
    (the latent's shape, e.g. drawn beforehand on the CPU), else drawn from ``generator``."""
    if reconstruction not in RECONSTRUCTION:
        raise ValueError(f"unknown reconstruction loss {reconstruction!r}; expected one of: {', '.join(RECONSTRUCTION)}")
    posterior = autoencoder.encode(x)
    if noise is None:
        z = posterior.sample(generator)
    else:
        if noise.shape != posterior.mean.shape:
            raise ValueError(f"noise of shape {tuple(noise.shape)} for latents of shape {tuple(posterior.mean.shape)}")
        z = posterior.mean + posterior.std * noise.to(device=posterior.mean.device, dtype=posterior.mean.dtype)
    x_hat = autoencoder.decode(z)
    rec = RECONSTRUCTION[reconstruction](x_hat - x).mean()
    kl = posterior.kl().mean() / x[0].numel()
    return rec + kl_weight * kl, rec, kl


class AutoencoderLoss:
    """:func:`autoencoder_loss` as the :class:`~difflab.train.loop.Loss` of
    :func:`~difflab.train.fit`: ``draw`` draws eps ~ N(0, I) of the latent's shape
    (``autoencoder.latent_shape`` of the images) for the whole global batch on the CPU;
    the call returns the loss and the terms ``rec`` and ``kl`` to log."""

    def __init__(self, autoencoder: AutoencoderKL, kl_weight: float = 1e-6, reconstruction: str = "l2") -> None:
        if reconstruction not in RECONSTRUCTION:
            raise ValueError(f"unknown reconstruction loss {reconstruction!r}; expected one of: {', '.join(RECONSTRUCTION)}")
        self.latent_shape = autoencoder.latent_shape
        self.kl_weight, self.reconstruction = kl_weight, reconstruction
        self.config = {"kl_weight": kl_weight, "reconstruction": reconstruction}

    def draw(self, x: torch.Tensor, cond: dict, generator: torch.Generator) -> tuple[dict, dict]:
        shape = (x.shape[0], *self.latent_shape(tuple(x.shape[1:])))
        return cond, {"eps": torch.randn(shape, generator=generator, dtype=torch.float32)}

    def __call__(self, net, x: torch.Tensor, cond: dict, noise: dict):
        loss, rec, kl = autoencoder_loss(net, x, kl_weight=self.kl_weight, reconstruction=self.reconstruction,
                                         noise=noise["eps"])
        return loss, {"rec": rec.detach(), "kl": kl.detach()}


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


def crop_each(images: torch.Tensor, size: int, generator: torch.Generator, multiple: int = 1) -> torch.Tensor:
    """A ``size`` x ``size`` crop of each image, at a position drawn from ``generator`` among
    the multiples of ``multiple`` (the autoencoder's factor: a crop then keeps the phase of the
    latent grid that whole images are encoded on)."""
    n, _, h, w = images.shape
    if not (0 < size <= min(h, w)):
        raise ValueError(f"crop={size} must be positive and at most the image side {min(h, w)}")
    top = (torch.randint(0, (h - size) // multiple + 1, (n,), generator=generator) * multiple).tolist()
    left = (torch.randint(0, (w - size) // multiple + 1, (n,), generator=generator) * multiple).tolist()
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
    compile: bool = False,
    precision: str = "fp32",
    progress: bool = True,
    init: str | Path | None = None,
    decoder_only: bool = False,
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
        init: fine-tune: start from the weights of this autoencoder folder, whose network
            config replaces ``channels`` ... ``mid_attention`` (a fresh optimizer and
            warm-up); e.g. to teach a trained autoencoder new kinds of images.
        decoder_only: with ``init``, train the decoder alone: the encoder's weights and
            the init's ``scale_factor`` stay as they are, so the latent space (and every
            denoiser trained on it) is unchanged while the decoder learns to draw it
            better, as Stable Diffusion's decoder fine-tunes do.
        device: where to train (default: CUDA if available, else CPU). Under ``torchrun``
            the training is data-parallel over the processes (:func:`~difflab.train.fit`),
            each on its own GPU (or the CPU); ``batch_size`` is the global batch.

    Returns ``out``. ``config.json`` holds ``"net"`` (with ``scale_factor``) and
    ``"training"`` (with ``psnr``, the held-out reconstruction PSNR in dB).
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if batch_size < 1 or eval_images < 1 or scale_images < 2:
        raise ValueError(f"batch_size and eval_images must be positive and scale_images at least 2, "
                         f"got {batch_size}, {eval_images}, {scale_images}")
    if checkpoint_every < 1 or log_every < 1:
        raise ValueError(f"checkpoint_every and log_every must be positive, got {checkpoint_every}, {log_every}")
    if kl_weight < 0:
        raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
    if decoder_only and init is None:
        raise ValueError("decoder_only fine-tunes the decoder of a trained autoencoder: give init")
    if reconstruction not in RECONSTRUCTION:
        raise ValueError(f"unknown reconstruction loss {reconstruction!r}; expected one of: {', '.join(RECONSTRUCTION)}")
    out = Path(out)
    w = init_distributed()  # under torchrun: join the process group (fit trains data-parallel)
    device = torch.device(device) if device is not None else w.device

    held_out = eval_draw if eval_draw is not None else draw
    what = "eval_draw" if eval_draw is not None else "draw"
    eval_set = _check_images(held_out(eval_images, torch.Generator().manual_seed(stream_seed(seed, "eval"))),
                             eval_images, what)
    scale_set = _check_images(held_out(scale_images, torch.Generator().manual_seed(stream_seed(seed, "scale"))),
                              scale_images, what)
    image_shape = list(eval_set.shape[1:])

    torch.manual_seed(seed)
    if init is not None:
        from ..io.folders import load_autoencoder

        ae, _ = load_autoencoder(init, device)
        if ae.in_channels != image_shape[0]:
            raise ValueError(f"{init}: its autoencoder takes {ae.in_channels}-channel images, the data have {image_shape[0]}")
        ae.train()
        if decoder_only:
            if ae.scale_factor is None:
                raise ValueError(f"{init}: its autoencoder has no scale_factor; decoder_only keeps the init's latent scale")
            for name, p in ae.named_parameters():
                p.requires_grad_(not name.startswith("enc_"))
    else:
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
               "kl_weight": kl_weight, "reconstruction": reconstruction, "crop": crop, "eval_images": eval_images,
               "scale_images": scale_images, "seed": seed, **({"init": str(init)} if init is not None else {}),
               **({"decoder_only": True} if decoder_only else {})}

    def draw_batch(n: int, g: torch.Generator) -> torch.Tensor:
        x = _check_images(draw(n, g), n, "draw")
        return crop_each(x, crop, g, ae.factor) if crop is not None else x

    def export(step: int, ema) -> None:
        ae.eval()
        scale = (ae.scale_factor if decoder_only else
                 ae.estimate_scale_factor(scale_set.to(device), torch.Generator().manual_seed(stream_seed(seed, "z"))))
        psnr = reconstruction_psnr(ae, eval_set)
        last = next((r for r in reversed(read_log(out / LOG)) if r.get("rec") is not None), {})
        info = {**fit_cfg, "steps_done": step, "psnr": round(psnr, 3), "scale_factor": scale,
                "final_rec_loss": last.get("rec"), "final_kl": last.get("kl"),
                "params": sum(p.numel() for p in ae.parameters())}
        save_autoencoder(out, ae, {"data": data_cfg, "training": info})
        append_record(out / LOG, {"step": step, "psnr": info["psnr"], "scale_factor": scale, "time": time.time()})
        ae.train()

    # the settings fit does not know are recorded in the checkpoint's config, so a resume compares them
    fit(ae, draw_batch, loss=AutoencoderLoss(ae, kl_weight, reconstruction), steps=steps, batch_size=batch_size,
        lr=lr, warmup=warmup, grad_clip=grad_clip, ema_half_life=None, out=out, checkpoint_every=checkpoint_every,
        log_every=log_every, resume=resume, on_checkpoint=export, seed=seed, progress=progress, compile=compile,
        precision=precision,
        config={"net": ae.config, "data": data_cfg,
                "autoencoder": {"crop": crop, "eval_images": eval_images, "scale_images": scale_images}},
        desc=f"train autoencoder{' ' + data['name'] if data and 'name' in data else ''}")
    return out

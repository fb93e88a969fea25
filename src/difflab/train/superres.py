"""Train a super-resolution model (SR3, Saharia et al. 2021; residual target of SRDiff,
Li et al. 2022; noise-conditioning augmentation of Ho et al. 2022) on random crops of the
real photographs of :mod:`difflab.data.photos`. See :mod:`difflab.tasks.superres` for the method.

One training sample (:func:`make_draw`), all from the data generator:

1. an HR crop of ``crop + 2 m s`` pixels (m = 2 low-resolution pixels of margin) from
   :func:`~difflab.data.photos.random_crops`, x;
2. its 8-bit antialiased-bicubic downscale y = Q(D_s(x)) (:func:`difflab.tasks.superres.downscale`);
3. an augmentation level tau ~ U(0, tau_max) and noise z, the conditioning
   c = [U_s(y + tau z), tau / tau_max] (:func:`difflab.tasks.superres.condition`);
4. the target x_0 = k (x - U_s(y)), the residual of the clean y;
5. x_0 and c cut to their central ``crop`` x ``crop`` pixels, so no sample sees the
   border effects of resampling a small crop: at inference the image is large and
   those borders are its true borders.

The shipped model (``difflab/assets/sr-x4``) is the recipe of the defaults:
a 1.5 M-parameter :class:`~difflab.nets.UNet` (24 base channels, ``channel_mult``
(1, 2, 4), one residual block per level, attention only in the middle block, 8 groups,
4 concatenated input channels), the cosine DDPM table (T = 1000), v prediction,
AdamW lr 1e-3 with 100 warm-up steps and cosine decay, batch 16 of 32 x 32 crops
(8 x 8 inputs), gradient norm clipped to 1, EMA half-life 4,000 samples.
:func:`ship` writes its EMA weights in float16 (3 MB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..data.photos import TRAIN_PHOTOS, random_crops
from ..denoiser import Denoiser
from ..nets import UNet
from ..io.folders import EMA_WEIGHTS, cast_state, load_config, load_weights, save_weights, write_config
from ..schedules import DiscreteSchedule
from ..tasks.superres import quantize_8bit, condition, downscale, upsample
from .run_folder import model_exporter, trainer
from .distributed import world
from .loop import fit

__all__ = ["train_superres", "make_draw", "ship"]

#: low-resolution pixels of context cut away around each training crop
MARGIN = 2


def make_draw(crop: int, scale: int, residual_scale: float, aug_max: float, photos: Sequence[str] = TRAIN_PHOTOS):
    """The ``draw(n, generator) -> (x_0, {"concat": c})`` of the training stream (module docstring)."""
    if crop % scale:
        raise ValueError(f"crop {crop} must be divisible by scale {scale}")
    m = MARGIN * scale
    big = crop + 2 * m
    photos = tuple(photos)

    def draw(n: int, g: torch.Generator):
        x = random_crops(n, big, g, photos)
        y = quantize_8bit(downscale(x, scale))
        tau = torch.rand(n, generator=g, dtype=torch.float32) * aug_max
        z = torch.randn(y.shape, generator=g, dtype=torch.float32)
        c = condition(y, scale, tau, aug_max, z)
        x0 = residual_scale * (x - upsample(y, scale))
        inner = (slice(None), slice(None), slice(m, m + crop), slice(m, m + crop))
        return x0[inner].contiguous(), {"concat": c[inner].contiguous()}

    return draw


@trainer
def train_superres(
    photos: Sequence[str] = TRAIN_PHOTOS,
    *,
    out: str | Path,
    steps: int = 1500,
    batch_size: int = 16,
    scale: int = 4,
    crop: int = 32,
    lr: float = 1e-3,
    channels: int = 24,
    channel_mult: Sequence[int] = (1, 2, 4),
    num_res_blocks: int = 1,
    groups: int = 8,
    residual_scale: float = 4.0,
    aug_max: float = 0.1,
    aug_level: float = 0.02,
    ema_half_life: float = 4000,
    warmup: int = 100,
    grad_clip: float | None = 1.0,
    checkpoint_every: int = 100,
    log_every: int = 25,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
    compile: bool = False,
    precision: str = "fp32",
) -> Path:
    """Train an x``scale`` super-resolution model on crops of the photographs ``photos``
    (:mod:`difflab.data.photos`); ``out`` becomes the model folder and the run folder (checkpoint, ``train_log.jsonl``, ``loss.png``); ``resume=True`` continues.

    ``residual_scale`` is k, ``aug_max`` is tau_max and ``aug_level`` the sampling level
    stored in the config (see :mod:`difflab.tasks.superres`). ``device`` defaults to CUDA when it
    is available. Returns ``out``.
    """
    out = Path(out)
    if not 0 <= aug_level <= aug_max or aug_max <= 0:
        raise ValueError(f"need 0 <= aug_level <= aug_max and aug_max > 0, got {aug_level} and {aug_max}")
    torch.manual_seed(seed)
    net = UNet(in_channels=3, channels=channels, channel_mult=channel_mult, num_res_blocks=num_res_blocks,
               attention_resolutions=(), image_size=crop, groups=groups, concat_channels=4)
    net.to(torch.device(device) if device is not None else world().device)
    sched = DiscreteSchedule(kind="cosine", T=1000)
    denoiser = Denoiser(net, sched, "v", "index")
    sr = {"scale": scale, "residual_scale": residual_scale, "aug_max": aug_max, "aug_level": aug_level,
          "degradation": "antialiased bicubic (torch interpolate, antialias=True), 8-bit",
          "upsampling": "bicubic (torch interpolate, align_corners=False), clipped"}
    training = {"steps": steps, "batch_size": batch_size, "crop": crop, "lr": lr, "warmup": warmup,
                "grad_clip": grad_clip, "ema_half_life": ema_half_life, "seed": seed, "photos": list(photos)}
    extra = {"task": "superres", "superres": sr, "data": {"pixel_range": [-1, 1]}, "training": training}

    export = model_exporter(out, denoiser, extra)

    fit(denoiser, make_draw(crop, scale, residual_scale, aug_max, photos), steps=steps, batch_size=batch_size,
        lr=lr, warmup=warmup, ema_half_life=ema_half_life, grad_clip=grad_clip, out=out,
        checkpoint_every=checkpoint_every, log_every=log_every, resume=resume,
        config={"net": net.config, "schedule": sched.to_config(), "prediction": "v", "superres": sr,
                "training": {k: v for k, v in training.items() if k != "steps"}},  # fit.steps may grow on resume
        on_checkpoint=export, seed=seed, progress=progress, desc=f"train superres x{scale}", compile=compile,
        precision=precision)
    return out


def ship(run: str | Path, dest: str | Path) -> Path:
    """Copy the model of run folder ``run`` into ``dest`` as a small inference folder:
    ``config.json`` and the EMA weights in float16 as ``model.safetensors``."""
    run, dest = Path(run), Path(dest)
    config = load_config(run)
    state = load_weights(run / EMA_WEIGHTS if (run / EMA_WEIGHTS).is_file() else run / "model.safetensors")
    dest.mkdir(parents=True, exist_ok=True)
    save_weights(dest / "model.safetensors", cast_state(state, torch.float16))
    (dest / EMA_WEIGHTS).unlink(missing_ok=True)
    write_config(dest, {**config, "weights_dtype": "float16"})
    return dest

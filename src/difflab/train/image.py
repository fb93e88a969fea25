"""Train an image model end to end: data, UNet, DDPM schedule, the engine, a saved folder.

The MNIST-5k recipe (the defaults of :func:`train_image`) is sized for a 2-core
laptop CPU: class-conditional samples that look like digits in about 15 minutes
(timings, and the measurement behind each choice, in docs/image-models.md and
docs/benchmarks.md, "Time to quality").

- data: the 4,500 training images of MNIST-5k at 28x28 (:mod:`difflab.data.images`),
  in [-1, 1], sampled with replacement;
- network: a 1.2 M-parameter :class:`~difflab.nets.UNet`, 32 base channels,
  ``channel_mult`` (1, 2, 2) over 28 -> 14 -> 7, one residual block per level,
  self-attention at 7x7 and in the middle, 8 GroupNorm groups, class embedding with
  the null label for classifier-free guidance (Ho & Salimans 2022, ``p_uncond`` 0.1);
- process: the cosine DDPM table with T = 1000 (Nichol & Dhariwal 2021, eq. 17),
  v prediction (Salimans & Ho 2022, sec. 4) with the min-SNR-5 weighting (Hang et
  al. 2023: the x0 error weighted by min(SNR, 5), :func:`difflab.losses.denoising_loss`).
  Not eps: the cosine table's last entry has sigma/alpha = 2e4, where an eps
  error e becomes an x0 error of 2e4 e, and a sampler's first step from there
  (DDIM on the default "trailing" grid) ruins the sample unless x0 is clipped;
  the v parameterization predicts x0 = alpha x_t - sigma v with bounded error at
  every noise level;
- optimizer: AdamW, lr 1e-3, batch 32, 100 warm-up steps then cosine decay to 10%,
  gradient norm clipped to 1, 1,600 steps (51 k images, 11 epochs); EMA half-life
  10 k images with the ramp-up of Karras et al. 2022 (app. C). On a CPU budget more,
  smaller steps beat fewer, larger ones: batch 32 trains to a better model than 64 in
  the same minutes;
- precision: ``auto``, bfloat16 autocast with float32 master weights where the hardware
  multiplies bfloat16 natively (Kalamkar et al. 2019; AMX / AVX512-BF16 CPUs and recent
  GPUs), float32 elsewhere.

Samples: ``ClassifierFreeGuidance(denoiser, scale=2)`` with DDIM, 50 steps
(:mod:`difflab.guidance`, :func:`difflab.sample`).

Distributed: launched by ``torchrun --nproc_per_node N``, every process runs this
function; the global ``batch_size`` is split across them and rank 0 writes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import torch

from ..data.images import dataset_config, train_test
from ..denoiser import Denoiser
from ..losses import check_objective
from ..nets import UNet
from ..precision import resolve_precision
from ..schedules import schedule_preset
from .run_folder import model_exporter, trainer
from .distributed import init_distributed
from .loop import fit

__all__ = ["train_image", "level_resolutions"]


def level_resolutions(image_size: int, levels: int) -> list[int]:
    """Spatial size of each UNet level: ``image_size`` halved, rounding up (as :class:`~difflab.nets.UNet`)."""
    sizes = [int(image_size)]
    for _ in range(levels - 1):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


@trainer
def train_image(
    data: str = "mnist5k",
    *,
    out: str | Path,
    steps: int = 1600,
    batch_size: int = 32,
    lr: float = 1e-3,
    channels: int = 32,
    channel_mult: Sequence[int] = (1, 2, 2),
    num_res_blocks: int = 1,
    attention_resolutions: Sequence[int] | None = None,
    groups: int | None = None,
    dropout: float = 0.0,
    schedule: str = "cosine",
    prediction: str = "v",
    weighting: str | None = "min-snr",
    t_sampling: str = "uniform",
    betas: Sequence[float] = (0.9, 0.999),
    class_conditional: bool = True,
    p_uncond: float = 0.1,
    ema_half_life: float = 10_000,
    warmup: int = 100,
    grad_clip: float | None = 1.0,
    accumulate: int = 1,
    checkpoint_every: int = 200,
    log_every: int = 25,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
    compile: bool = False,
    precision: str = "auto",
    folder: str | Path | None = None,
    size: int | None = None,
    mode: str = "RGB",
    path: str | Path | None = None,
) -> Path:
    """Train a UNet denoiser on image dataset ``data`` and save a model folder at ``out``.

    ``data`` is ``"mnist5k"`` (``path``: where its file is, see
    :func:`~difflab.data.images.find_mnist5k`), ``"digits"`` or ``"folder"`` (needs
    ``folder`` and ``size``; ``mode`` "RGB" or "L"). The model trains on the fixed
    training split. ``attention_resolutions`` defaults to the lowest level's size;
    ``groups`` to ``min(32, channels // 4)``. ``class_conditional`` needs a dataset
    with classes; ``p_uncond`` is the label-dropout rate for classifier-free guidance.
    ``weighting``: the loss weighting (:func:`difflab.losses.denoising_loss`; None: simple);
    ``t_sampling``: the density of training times (:func:`difflab.losses.sample_t`);
    ``betas``: AdamW's. ``precision``: ``"auto"`` trains in bfloat16 autocast where the
    hardware multiplies it natively (AMX / AVX512-BF16 CPUs, recent GPUs), else in float32
    (:func:`difflab.precision.resolve_precision`; docs/benchmarks.md measures both).

    ``out`` becomes the model folder (``config.json``, ``model.safetensors``,
    ``ema.safetensors``, rewritten at every checkpoint) and the run folder
    (``checkpoint.safetensors``, ``train_log.jsonl``, ``loss.png``); ``resume=True``
    continues from its checkpoint. ``device``: where to train (default CUDA when available;
    under ``torchrun`` every process uses its own device). Returns ``out``.
    """
    check_objective(weighting, t_sampling)
    sched = schedule_preset(schedule, discrete=True)  # the network takes DDPM table indices
    loader_args: dict = {}
    if data == "folder":
        if folder is None or size is None:
            raise ValueError("data='folder' needs folder= (the image folder) and size= (the side in pixels)")
        loader_args = {"folder": folder, "size": size, "mode": mode}
    elif data == "mnist5k" and path is not None:
        loader_args = {"path": path}
    out = Path(out)

    w = init_distributed()
    train_set, _ = train_test(data, **loader_args)
    data_cfg = dataset_config(data, **loader_args)
    channels_in, height, width = data_cfg["shape"]
    if height != width:
        raise ValueError(f"the UNet trainer needs square images, got {height}x{width}")
    num_classes = data_cfg["num_classes"] if class_conditional else None
    if class_conditional and not num_classes:
        raise ValueError(f"class_conditional=True needs a dataset with classes; {data!r} has none here "
                         "(an image folder needs class subfolders)")
    if not class_conditional:
        p_uncond = 0.0
    levels = level_resolutions(height, len(channel_mult))
    if attention_resolutions is None:
        attention_resolutions = [levels[-1]]
    if groups is None:
        groups = max(1, min(32, channels // 4))

    torch.manual_seed(seed)  # the same initial weights on every process
    net = UNet(in_channels=channels_in, channels=channels, channel_mult=channel_mult, num_res_blocks=num_res_blocks,
               attention_resolutions=attention_resolutions, image_size=height, dropout=dropout, groups=groups,
               num_classes=num_classes).to(w.device if device is None or w.size > 1 else torch.device(device))
    denoiser = Denoiser(net, sched, prediction, "index")

    images, labels = train_set.images, train_set.labels

    def draw(n: int, g: torch.Generator):
        index = torch.randint(0, len(images), (n,), generator=g)
        return images[index], ({"labels": labels[index]} if num_classes else {})

    with warnings.catch_warnings():  # emulated bf16 is warned about once, by fit
        warnings.simplefilter("ignore")
        recorded_precision = resolve_precision(precision, next(net.parameters()).device)
    training = {"steps": steps, "batch_size": batch_size, "lr": lr, "warmup": warmup, "grad_clip": grad_clip,
                "ema_half_life": ema_half_life, "p_uncond": p_uncond, "weighting": weighting, "t_sampling": t_sampling,
                "betas": list(betas), "precision": recorded_precision, "seed": seed,
                "train_images": len(images)}
    extra = {"task": "image", "data": data_cfg, "num_classes": num_classes, "training": training}

    export = model_exporter(out, denoiser, extra)

    fit(
        denoiser, draw, steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, ema_half_life=ema_half_life,
        ema_rampup=0.05, grad_clip=grad_clip, accumulate=accumulate, precision=precision, p_uncond=p_uncond,
        weighting=weighting, t_sampling=t_sampling, betas=tuple(betas),
        out=out, checkpoint_every=checkpoint_every, log_every=log_every, resume=resume,
        config={"net": net.config, "schedule": sched.to_config(), "prediction": denoiser.prediction.value,
                "data": data_cfg}, on_checkpoint=export, seed=seed, progress=progress, desc=f"train {data}", compile=compile,
    )
    return out

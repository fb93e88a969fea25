"""Image-to-image: SDEdit (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing
with Stochastic Differential Equations", sec. 3, Algorithm 1).

An input x (an image, or its latent) is noised to an intermediate level of the
forward process and denoised from there with any sampler:

    x_t = x + sigma_t eps      (scaled coordinates: a draw of q(x_t | x_0 = x))
    x'  = sampler(x_t on the grid from sigma_t down to 0).

The strength s in [0, 1] picks t_0: of a grid of ``steps`` levels, only the last
``round(s * steps)`` steps are run (rounded half up), so the run starts at the grid
level a fraction s of the way from clean to pure noise, as diffusers' img2img does
(which floors instead). s trades faithfulness (small s: x' stays close to x) for
realism (large s: x' follows the model); Meng et al. report t_0 in [0.3, 0.6] as a
good middle.

- s = 0 runs no step: the input comes back exactly, without a network call.
- s = 1 runs the whole grid from pure noise, exactly as :func:`difflab.sample` does with
  the same generator: the input is ignored (it would weigh alpha_T, ~0.006 for a linear
  DDPM table, in x_T; it weighs nothing).

The sampling itself is :func:`difflab.sample` on the sub-grid (``sigmas=``): no sampler
logic lives here. Images (files, the codec of a latent model) are the pipelines' job:
:func:`difflab.pipelines.editing.img2img_image`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from ..grids import make_grid
from ..samplers import SampleInfo, sample
from ..tensors import GeneratorLike, randn

__all__ = ["img2img", "Img2ImgInfo", "steps_to_run"]


@dataclass
class Img2ImgInfo(SampleInfo):
    """A :class:`~difflab.samplers.SampleInfo` (NFE, the sub-grid run, sampler) plus the
    number of steps actually run and the strength asked for."""

    steps: int
    strength: float


def steps_to_run(strength: float, steps: int) -> int:
    """round(strength * steps), halves rounded up: how many of ``steps`` SDEdit runs."""
    strength = float(strength)
    if not (0.0 <= strength <= 1.0):
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return min(steps, math.floor(strength * steps + 0.5))


def img2img(
    denoiser,
    x: torch.Tensor,
    strength: float,
    sampler: str = "ddpm",
    steps: int = 50,
    *,
    generator: GeneratorLike = None,
    spacing: str | None = None,
    sigmas: torch.Tensor | None = None,
    cond: dict | None = None,
    callback=None,
    return_info: bool = False,
    **options,
):
    """SDEdit (Meng et al. 2022, Algorithm 1) of ``x`` (N, ...) in model coordinates.

    Args:
        denoiser: a :class:`difflab.Denoiser` (or any ``(x, sigma, **cond) -> x0`` with a
            ``.schedule``; e.g. a classifier-free-guided one).
        x: the input data (an image in model space, or its latent).
        strength: s in [0, 1]; the last ``round(s * steps)`` steps of the grid are run.
        sampler, steps, spacing, sigmas: the full grid and the sampler, as in
            :func:`difflab.sample` (``sigmas`` overrides ``steps`` and ``spacing``).
        generator: int seed (sample i: seed + i), a ``torch.Generator`` or one per sample;
            it draws the forward noise eps, then the sampler's own noise.
        cond, callback, **options: passed to :func:`difflab.sample`.

    Returns:
        the edited data, and an :class:`Img2ImgInfo` if ``return_info``.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise TypeError("x must be a tensor of shape (batch, ...)")
    if not hasattr(denoiser, "schedule"):
        raise TypeError("denoiser must be a difflab Denoiser (it needs a .schedule)")
    if sigmas is None:
        sigmas = make_grid(denoiser.schedule, steps, spacing)
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    total = len(sigmas) - 1
    k = steps_to_run(strength, total)
    sub = sigmas[total - k:]
    if k == 0:
        out, info = x.clone(), SampleInfo(nfe=0, sigmas=sub, sampler=sampler)
    else:
        eps = randn(x.shape, generator, device=x.device, dtype=x.dtype)
        if k == total:
            noise = eps  # pure noise: the input is ignored (module docstring)
        else:
            sigma_start = float(sub[0])
            # sample() scales its noise by sqrt(1 + sigma_start^2): hand it x_t scaled down
            noise = (x + sigma_start * eps) / math.sqrt(1.0 + sigma_start**2)
        out, info = sample(denoiser, noise, sampler, k, generator=generator, sigmas=sub, cond=cond,
                           callback=callback, return_info=True, **options)
    if return_info:
        kept = {f.name: getattr(info, f.name) for f in fields(SampleInfo) if f.name not in ("nfe", "sigmas", "sampler")}
        return out, Img2ImgInfo(nfe=info.nfe, sigmas=sub, sampler=sampler, steps=k, strength=float(strength), **kept)
    return out

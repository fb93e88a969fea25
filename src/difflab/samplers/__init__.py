"""Samplers: plain functions ``sample_x(denoiser, x, sigmas, *, cond, generator, callback, **options) -> x``.

``x`` is in scaled coordinates x_t / alpha_t at noise level ``sigmas[0]``; ``sigmas``
is a decreasing grid ending at 0 (:mod:`difflab.grids`); ``denoiser(x, sigma, **cond)``
returns E[x_0 | x]. A multistep method keeps its history in local variables.

:func:`sample` is the one entry point for users: it builds the grid, scales the
starting noise, counts network evaluations and dispatches by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..grids import make_grid
from ..tensors import GeneratorLike, randn, stream_generators
from ._common import CountingDenoiser
from .ddpm import sample_ddim, sample_ddpm
from .dpm_solver import sample_deis, sample_dpm_adaptive, sample_dpmpp_2m, sample_dpmpp_2m_sde, sample_unipc
from .edm import sample_euler, sample_heun
from .langevin import sample_langevin
from .lms import sample_lms
from .ode import sample_ode
from .registry import DEFAULT_SPACING, SAMPLERS, check_options, register
from .repaint import jump_schedule, sample_repaint
from .sde import sample_euler_maruyama, sample_pc

__all__ = [
    "SAMPLERS",
    "DEFAULT_SPACING",
    "sample",
    "SampleInfo",
    "sample_ddpm",
    "sample_ddim",
    "sample_euler_maruyama",
    "sample_pc",
    "sample_langevin",
    "sample_ode",
    "sample_euler",
    "sample_heun",
    "sample_lms",
    "sample_dpmpp_2m",
    "sample_dpmpp_2m_sde",
    "sample_deis",
    "sample_unipc",
    "sample_dpm_adaptive",
    "sample_repaint",
    "jump_schedule",
    "register",
    "check_options",
    "model_device",
]

@dataclass
class SampleInfo:
    """What a sampling run cost: network evaluations and the grid it used."""

    nfe: int
    sigmas: torch.Tensor
    sampler: str


def model_device(model) -> torch.device:
    """The device of ``model``'s weights: those of the model itself, its ``net``, or the
    denoiser it wraps (guidance, counting wrappers); the CPU when it has none (the exact
    mixture denoiser)."""
    seen = set()
    stack = [model]
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.nn.Module):
            p = next(obj.parameters(), None)
            if p is not None:
                return p.device
        stack += [getattr(obj, "net", None), getattr(obj, "denoiser", None)]
    return torch.device("cpu")


def sample(
    model,
    noise: torch.Tensor | tuple,
    sampler: str = "ddim",
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
    """Draw samples from ``model`` by running ``sampler`` for ``steps`` steps.

    Args:
        model: a :class:`difflab.Denoiser` (or anything with a ``schedule`` and
            the call ``model(x, sigma, **cond) -> x0``, e.g. the exact
            Gaussian-mixture denoiser).
        noise: standard normal starting noise of the output's shape, or a shape
            (then drawn from ``generator``). It is scaled to the first noise level.
        sampler: a name in :data:`SAMPLERS`, or a function with the common signature
            (e.g. :func:`sample_repaint`, which also takes ``known`` and ``mask``).
        steps: number of steps (the grid has ``steps + 1`` levels, the last 0).
        generator: an int seed, a ``torch.Generator`` or one generator per sample,
            for the noise stochastic samplers draw at every step.
        spacing: grid spacing (see :func:`difflab.grids.make_grid`); by default the sampler's
            entry in :data:`DEFAULT_SPACING`, else the schedule's default. Or pass ``sigmas``.
        cond: conditioning passed to the network (class labels, text tokens ...).
        callback: called once per step (adaptive samplers: per accepted step) with a dict
            (``i``, ``x``, ``sigma``, ``sigma_next``, ``x0``).
        return_info: also return a :class:`SampleInfo` (NFE, grid).
        **options: the sampler's own options (``eta`` for DDIM, ``variance`` for DDPM ...).

    Returns:
        the samples (in data coordinates), and the info if ``return_info``.
    """
    if callable(sampler):
        fn, sampler = sampler, sampler.__name__
    elif sampler in SAMPLERS:
        fn = SAMPLERS[sampler]
    else:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of: {', '.join(sorted(SAMPLERS))}")
    check_options(sampler, fn, options)
    if not hasattr(model, "schedule"):
        raise TypeError("model must be a difflab Denoiser (it needs a .schedule)")
    if sigmas is None:
        sigmas = make_grid(model.schedule, steps, spacing or DEFAULT_SPACING.get(sampler))
    else:
        sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
        if sigmas.ndim != 1 or len(sigmas) < 2 or sigmas[-1] != 0 or not (sigmas[:-1] > sigmas[1:]).all():
            raise ValueError("sigmas must be a strictly decreasing 1-d grid that ends at 0")
    if isinstance(noise, (tuple, list, torch.Size)):
        noise = randn(noise, generator)  # drawn on the CPU: the same seed gives the same noise on any device
    if isinstance(generator, int) and not isinstance(generator, bool):
        # one stream per sample for the whole run (seed, seed + 1, ...), so the step
        # noise of sample i does not depend on the batch it is drawn in
        generator = stream_generators(generator, noise.shape[0], "steps")
    if not isinstance(noise, torch.Tensor) or noise.ndim < 1:
        raise TypeError("noise must be a tensor of shape (batch, ...) or a shape tuple")
    counted = CountingDenoiser(model)
    x = noise.to(model_device(model)) * math.sqrt(1.0 + float(sigmas[0]) ** 2)
    was_training = getattr(getattr(model, "net", None), "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            x = fn(counted, x, sigmas, cond=cond, generator=generator, callback=callback, **options)
    finally:
        if was_training:
            model.train()
    if return_info:
        return x, SampleInfo(nfe=counted.nfe, sigmas=sigmas, sampler=sampler)
    return x

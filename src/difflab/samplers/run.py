"""``sample()``, the one entry point for users: it builds the grid (or takes the model's
optimized one), scales the starting noise, counts network evaluations and dispatches by name."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import torch

from ..grids import data_scale_from_evaluation, make_grid
from ..tensors import GeneratorLike, randn, stream_generators
from ._common import CountingDenoiser
from .registry import DEFAULT_SPACING, SAMPLERS, check_options

__all__ = ["sample", "SampleInfo", "model_device", "model_attribute"]


@dataclass
class SampleInfo:
    """What a sampling run cost: network evaluations and the grid it used; for grids that scale
    with the data, the sigma_data used and where it came from (``"option"``, ``"model"``: the
    model's own ``sigma_data``, ``"read"``: from its first evaluation, ``"assumed"``: 1.0,
    ``"stored grid"``: the model's optimized grid), and the data's effective dimension read
    with it (1 where it could not be read); ``start_mean``: the data mean read with them, on
    which the starting noise was centred (None: centred on 0)."""

    nfe: int
    sigmas: torch.Tensor
    sampler: str
    # keyword-only, so that a subclass (Img2ImgInfo) may add fields without defaults
    sigma_data: float | None = field(default=None, kw_only=True)
    sigma_data_source: str | None = field(default=None, kw_only=True)
    dim: float | None = field(default=None, kw_only=True)
    start_mean: torch.Tensor | None = field(default=None, kw_only=True)
    #: a multistep sampler's ``order`` setting (its default, capped on a guided model; the first and, with
    #: ``lower_order_final``, the last steps use fewer points; ``unipc`` with ``adaptive_order`` takes it
    #: as the highest order a sample may step at), else None
    order: int | None = field(default=None, kw_only=True)


def _wrapped(model):
    """``model`` and what it wraps (guidance and counting wrappers' ``denoiser``, a Denoiser's
    ``net``), outermost first."""
    seen, stack = set(), [model]
    while stack:
        obj = stack.pop(0)
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj
        stack += [getattr(obj, "denoiser", None), getattr(obj, "net", None)]


def model_device(model) -> torch.device:
    """The device of ``model``'s weights: those of the model itself, its ``net``, or the
    denoiser it wraps (guidance, counting wrappers); the CPU when it has none (the exact
    mixture denoiser)."""
    for obj in _wrapped(model):
        if isinstance(obj, torch.nn.Module):
            p = next(obj.parameters(), None)
            if p is not None:
                return p.device
    return torch.device("cpu")


def model_attribute(model, name: str):
    """The first non-None ``name`` of ``model`` or of what it wraps (a guided Denoiser's
    ``sigma_data`` and ``grids``), else None."""
    for obj in _wrapped(model):
        value = getattr(obj, name, None) if not isinstance(obj, torch.nn.Module) else None
        if value is not None:
            return value
    return None


class _FirstEvaluation:
    """The denoiser, with one evaluation already made (the read of sigma_data at the grid's
    first level) handed back when the sampler asks for that same evaluation: it is not made or
    counted twice."""

    def __init__(self, denoiser, x: torch.Tensor, sigma: float, x0: torch.Tensor) -> None:
        self.denoiser, self._first = denoiser, (x, sigma, x0)

    def __call__(self, x, sigma, **cond):
        first, self._first = self._first, None
        # the sampler may pass the level in its state's precision (float32 of sigma_max)
        if first is not None and x.shape == first[0].shape \
                and math.isclose(float(torch.as_tensor(sigma).reshape(-1)[0]), first[1], rel_tol=1e-6) and torch.equal(x, first[0]):
            return first[2]
        return self.denoiser(x, sigma, **cond)

    def __getattr__(self, name):
        return getattr(self.denoiser, name)


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
        **options: the sampler's own options (``eta`` for DDIM, ``variance`` for DDPM ...). A
            multistep sampler's ``order``, when not given, is its default capped by the model's
            ``max_solver_order`` (2 under extrapolating guidance, see
            :attr:`difflab.guidance.ClassifierFreeGuidance.max_solver_order`).

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
    if isinstance(noise, (tuple, list, torch.Size)):
        noise = randn(noise, generator)  # drawn on the CPU: the same seed gives the same noise on any device
    if isinstance(generator, int) and not isinstance(generator, bool):
        # one stream per sample for the whole run (seed, seed + 1, ...), so the step
        # noise of sample i does not depend on the batch it is drawn in
        generator = stream_generators(generator, noise.shape[0], "steps")
    if not isinstance(noise, torch.Tensor) or noise.ndim < 1:
        raise TypeError("noise must be a tensor of shape (batch, ...) or a shape tuple")
    counted = CountingDenoiser(model)
    denoiser = counted
    was_training = getattr(getattr(model, "net", None), "training", False)
    if hasattr(model, "eval"):
        model.eval()
    scale = {"sigma_data": None, "sigma_data_source": None}  # and dim, start_mean where read
    try:
        with torch.no_grad():
            if sigmas is None:
                sigmas, x, denoiser = _default_grid(counted, model, noise, sampler, fn, steps, spacing, cond, options, scale)
            else:
                sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
                if sigmas.ndim != 1 or len(sigmas) < 2 or sigmas[-1] != 0 or not (sigmas[:-1] > sigmas[1:]).all():
                    raise ValueError("sigmas must be a strictly decreasing 1-d grid that ends at 0")
                x = noise.to(model_device(model)) * math.sqrt(1.0 + float(sigmas[0]) ** 2)
            scale["order"] = _limit_order(model, fn, options)  # after a stored grid's own options
            x = fn(denoiser, x, sigmas, cond=cond, generator=generator, callback=callback, **options)
    finally:
        if was_training:
            model.train()
    if return_info:
        return x, SampleInfo(nfe=counted.nfe, sigmas=sigmas, sampler=sampler, **scale)
    return x


def _limit_order(model, fn, options: dict) -> int | None:
    """A multistep sampler's default ``order`` capped by the model's ``max_solver_order`` (2 for
    a guided model, :attr:`difflab.guidance.ClassifierFreeGuidance.max_solver_order`: high orders
    are unstable at large guidance scales, Lu et al. 2022b); an order passed explicitly is kept.
    Returns the order the sampler runs at (None for a sampler without one)."""
    param = inspect.signature(fn).parameters.get("order")
    if param is None:
        return None
    if "order" not in options:
        cap = model_attribute(model, "max_solver_order")
        if cap is not None and isinstance(param.default, int) and param.default > cap:
            options["order"] = int(cap)
    return options.get("order", param.default)


def _default_grid(counted, model, noise, sampler: str, fn, steps: int, spacing, cond, options: dict, scale: dict):
    """The grid ``sample`` uses when none is given, the starting point, and the denoiser to run.

    In order: a grid optimized for this model, sampler and step count (``model.grids``, made by
    :func:`difflab.grids.optimize_grid`) unless ``spacing`` is given; else ``spacing`` or the
    sampler's default (:data:`DEFAULT_SPACING`). The ``tuned`` grid scales with the data's
    sigma_data and effective dimension, read from the first evaluation D(x_T; sigma_max), which
    every sampler makes anyway (:func:`difflab.grids.data_scale_from_evaluation`; that
    evaluation is handed to the sampler, not made twice). A sigma_data the model declares
    (``sigma_data`` of the Denoiser, exact for a mixture) comes first, and so does a declared
    effective dimension (``data_dim``, measured on the training data); where the read is not
    precise, sigma_data is 1 (data standardised to unit variance, DDPM's convention) and the
    dimension 1. A sampler with its own ``sigma_data`` option (UniPC's interpolation variable)
    gets the same value unless it is passed."""
    device = model_device(model)
    stored = model_attribute(model, "grids") or {}
    if spacing is None and (sampler, steps) in stored:
        entry = stored[(sampler, steps)]
        sigmas = torch.as_tensor(entry["sigmas"], dtype=torch.float64)
        for key, value in entry.get("options", {}).items():  # the options it was optimized with
            options.setdefault(key, value)
        scale.update(sigma_data=options.get("sigma_data"), sigma_data_source="stored grid")
        return sigmas, noise.to(device) * math.sqrt(1.0 + float(sigmas[0]) ** 2), counted
    spacing = spacing or DEFAULT_SPACING.get(sampler)
    if spacing != "tuned":
        sigmas = make_grid(model.schedule, steps, spacing)
        return sigmas, noise.to(device) * math.sqrt(1.0 + float(sigmas[0]) ** 2), counted
    sigma_max = float(model.schedule.ve_sigma_max)
    x = noise.to(device) * math.sqrt(1.0 + sigma_max**2)
    x0 = counted(x, sigma_max, **(cond or {}))
    read = data_scale_from_evaluation(x, x0, sigma_max)
    if read is not None:
        # the noisy marginal at sigma_max is centred on the data's mean, not on 0: the
        # probability-flow ODE carries a start off by mu (mu / sigma_max in units of the noise)
        # all the way down (it has no stochastic term to forget it), moving mass between modes.
        # Start from mu + noise; D there is D(x) + beta mu to first order (D is linear in x
        # this far above the data, with the slope beta just read): no extra evaluation
        mu = read.mean.reshape(x.shape[1:]).to(x)
        x, x0 = x + mu, x0 + read.slope * mu
        scale["start_mean"] = mu
    denoiser = _FirstEvaluation(counted, x, sigma_max, x0)
    sigma_data, source = model_attribute(model, "sigma_data"), "model"
    if sigma_data is None:
        sigma_data, source = (read.sigma_data, "read") if read is not None else (1.0, "assumed")
    declared = model_attribute(model, "data_dim")
    if declared is not None or read is not None:
        dim, size = (declared if declared is not None else read.dim), float(math.prod(noise.shape[1:]))
    else:
        dim, size = 1.0, 1.0
    scale.update(sigma_data=sigma_data, sigma_data_source=source, dim=dim)
    if "sigma_data" in inspect.signature(fn).parameters and "sigma_data" not in options:
        options["sigma_data"] = sigma_data
    return make_grid(model.schedule, steps, "tuned", sigma_data=sigma_data, dim=dim, size=size), x, denoiser

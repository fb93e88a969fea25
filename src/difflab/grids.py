"""Step grids: decreasing noise levels (sigma = sigma_t / alpha_t) that end at 0.

A sampler receives a grid ``sigmas`` of length steps + 1, noisiest first,
``sigmas[-1] == 0``. The grid is the only notion of time a sampler has.

DDPM index spacings follow Lin et al. 2023 ("Common Diffusion Noise Schedules
and Sample Steps are Flawed", Table 2), written 0-based (index T-1 is the
noisiest entry of a table of T):

    linspace: round(linspace(0, T-1, N))         -- first T-1, last 0 (N = 1: just T-1)
    leading:  arange(0, N) * (T // N)            -- last 0; first (N-1)(T//N), not T-1
    trailing: round(arange(T, 0, -T/N)) - 1      -- first T-1
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from .limits import check_limit
from .schedules import DiscreteSchedule, Schedule

__all__ = [
    "ddpm_indices",
    "index_grid",
    "uniform_t_grid",
    "karras_grid",
    "log_snr_grid",
    "tuned_grid",
    "TUNED_TOP",
    "TUNED_SPREAD",
    "TUNED_BOTTOM",
    "TUNED_DECAY",
    "TUNED_SPLIT_STEPS",
    "make_grid",
    "default_spacing",
    "data_scale_from_evaluation",
    "data_scale_from_samples",
    "DataScale",
    "SPACINGS",
]

SPACINGS = ("trailing", "leading", "linspace", "uniform-t", "karras", "log-snr", "tuned")


def _check_steps(steps, upper: int | None = None) -> int:
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if upper is not None and steps > upper:
        raise ValueError(f"steps must be at most T = {upper} for a DDPM index grid, got {steps}")
    return int(steps)


def ddpm_indices(T: int, steps: int, spacing: str = "trailing", offset: int = 0) -> list[int]:
    """Table indices visited by a DDPM/DDIM sampler, noisiest first (0-based); the three
    spacings of Lin et al. 2023, Table 2. ``offset`` shifts a ``leading`` grid up (diffusers'
    ``steps_offset``: Stable Diffusion's schedulers use 1)."""
    steps = _check_steps(steps, T)
    if offset and spacing != "leading":
        raise ValueError(f"offset applies to the leading spacing only, not {spacing!r}")
    if spacing == "linspace":
        idx = np.round(np.linspace(0, T - 1, steps)).astype(np.int64) if steps > 1 else np.array([T - 1])
    elif spacing == "leading":
        idx = np.arange(steps, dtype=np.int64) * (T // steps) + int(offset)
        if idx[-1] > T - 1 or offset < 0:
            raise ValueError(f"offset {offset} takes a {steps}-step leading grid outside the table's 0..{T - 1}")
    elif spacing == "trailing":
        idx = np.round(np.arange(T, 0, -T / steps)).astype(np.int64)[:steps] - 1
    else:
        raise ValueError(f"unknown DDPM spacing {spacing!r}; expected one of: linspace, leading, trailing")
    return sorted(set(int(i) for i in idx), reverse=True)


def _with_zero(sigmas) -> torch.Tensor:
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def index_grid(schedule: DiscreteSchedule, steps: int, spacing: str = "trailing", offset: int = 0) -> torch.Tensor:
    """Noise levels at the DDPM table indices of :func:`ddpm_indices`, then 0."""
    return _with_zero(schedule.ve_sigma_at_index(ddpm_indices(schedule.T, steps, spacing, offset)))


def uniform_t_grid(schedule: Schedule, steps: int, t_min: float | None = None) -> torch.Tensor:
    """Times uniform from 1 down to ``t_min`` (the schedule's by default), then sigma = 0.
    This is the grid of Song et al. 2021's Euler-Maruyama and PC samplers."""
    steps = _check_steps(steps)
    t_min = schedule.t_min if t_min is None else t_min
    t = torch.linspace(1.0, t_min, steps, dtype=torch.float64)
    return _with_zero(schedule.ve_sigma(t))


def karras_grid(sigma_min: float, sigma_max: float, steps: int, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. 2022, eq. 5: sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho."""
    steps = _check_steps(steps)
    if steps == 1:
        return _with_zero([sigma_max])
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _with_zero((hi + ramp * (lo - hi)) ** rho)


def log_snr_grid(sigma_min: float, sigma_max: float, steps: int) -> torch.Tensor:
    """Uniform in log-SNR (equivalently in log sigma), the DPM-Solver grid (Lu et al. 2022)."""
    steps = _check_steps(steps)
    return _with_zero(torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), steps, dtype=torch.float64)))


#: the ``tuned`` rule's four constants (chosen on the tuning split of benchmarks/sampler_families.py,
#: mixtures 0-23, never on a reporting split; docs/samplers.md): the grid's top inner level is
#: max(TUNED_TOP * sigma_data * sqrt(dim), TUNED_SPREAD * sigma_data * sqrt(size / dim)) (dim: the
#: data's effective dimension, size: the number of coordinates), its lowest
#: TUNED_BOTTOM * sigma_data * (steps / 5) ** TUNED_DECAY
TUNED_TOP = 4.0
TUNED_SPREAD = 2.0
TUNED_BOTTOM = 0.2
TUNED_DECAY = -5.0 / 3.0
#: from this many steps on, a grid whose top inner level the spread term sets splits the first jump
#: at the geometric mean of sigma_max and that level (chosen on tuning mixtures 0-79 at 7, 10 and
#: 20 steps, session 35; docs/samplers.md, "The first jump, split")
TUNED_SPLIT_STEPS = 10


def tuned_grid(sigma_max: float, steps: int, sigma_min: float = 0.0, sigma_data: float = 1.0, dim: float = 1.0,
               size: float | None = None) -> torch.Tensor:
    """The default grid of the multistep solvers: sigma_max, then ``steps - 1`` levels uniform in
    log sigma from sigma_hi down to sigma_lo, then 0, with

        sigma_hi = max(TUNED_TOP sigma_data sqrt(dim), TUNED_SPREAD sigma_data sqrt(size / dim))
        sigma_lo = TUNED_BOTTOM sigma_data (steps / 5)^TUNED_DECAY

    (sigma_hi at most sigma_max / 2, sigma_lo at least sigma_min and at most sigma_hi / 2).
    ``dim`` is the data's effective dimension (tr C)^2 / tr(C^2) and ``size`` its number of
    coordinates (default ``dim``), so sigma_data sqrt(size / dim) = sqrt(tr(C^2) / tr C) is the
    data's spread along the directions it mostly extends in (for two modes far apart in many
    dimensions, half their distance). Above the larger of the two levels the noisy marginal is
    nearly the Gaussian N(mean, C + sigma^2 I) and the probability-flow ODE nearly linear, so
    one exponential-integrator step crosses it; below them the modes are decided. The rest of
    the budget goes down to a level that shrinks with the budget, in units of the data's scale.

    That one step is first order: landing at s it scales the data's direction of variance lambda
    by s / sqrt(lambda + s^2) of the exact flow's factor whatever sigma_max is, 2 / sqrt(5) (a 10.6 %
    contraction) where the spread term sets sigma_hi. So where it does, from
    ``TUNED_SPLIT_STEPS`` steps on, the grid is the rule's for one step fewer with the first jump
    split at sqrt(sigma_max sigma_hi), where that factor is sqrt(2R / (1 + 2R)) with
    R = sigma_max / sqrt(lambda) (0.98 at R = 12, 0.998 at R = 100).
    ``sigma_data``, ``dim`` and ``size`` come from the model (:func:`difflab.samplers.sample`
    passes them: the model's declared sigma_data, else all read from its first evaluation by
    :func:`data_scale_from_evaluation`, else 1, 1, 1). Like Sabour et al. 2024 ("Align Your
    Steps") a grid for the data rather than a fixed table; a grid for one model is
    :func:`difflab.samplers.optimize_grid`."""
    steps = _check_steps(steps)
    if steps == 1:
        return _with_zero([sigma_max])
    if not (sigma_data > 0 and dim >= 1):
        raise ValueError(f"sigma_data must be > 0 and dim >= 1, got {sigma_data!r}, {dim!r}")
    floor = math.log(max(sigma_min, 1e-12))
    ceiling = math.log(sigma_max / 2)
    if steps > 2 and ceiling - math.log(2) < floor:
        raise ValueError(f"sigma_max={sigma_max:.4g}, sigma_min={sigma_min:.4g} leave no room for a {steps}-step tuned grid")
    size = dim if size is None else size
    spread = TUNED_SPREAD * sigma_data * math.sqrt(size / dim)
    split = steps >= TUNED_SPLIT_STEPS and spread > TUNED_TOP * sigma_data * math.sqrt(dim)
    n = steps - int(split)  # where split, the rule's grid for one step fewer, then the inserted level
    top = max(TUNED_TOP * sigma_data * math.sqrt(dim), spread)
    log_hi = min(max(math.log(top), floor), ceiling)
    log_lo = min(max(math.log(TUNED_BOTTOM * sigma_data) + TUNED_DECAY * math.log(n / 5), floor), log_hi - math.log(2))
    inner = torch.exp(torch.linspace(log_hi, log_lo, n - 1, dtype=torch.float64))
    if n > 2 and not (inner[0] < sigma_max and (inner[:-1] > inner[1:]).all()):
        raise ValueError(f"sigma_max={sigma_max:.4g}, sigma_min={sigma_min:.4g} leave no room for a {steps}-step tuned grid")
    head = [float(sigma_max), math.sqrt(sigma_max * float(inner[0]))] if split else [float(sigma_max)]
    return _with_zero(torch.cat([torch.tensor(head, dtype=torch.float64), inner]))


def default_spacing(schedule: Schedule) -> str:
    """The spacing :func:`make_grid` takes when none is given: ``"trailing"`` on a DDPM table,
    ``"uniform-t"`` on a continuous schedule."""
    return "trailing" if isinstance(schedule, DiscreteSchedule) else "uniform-t"


def make_grid(schedule: Schedule, steps: int, spacing: str | None = None, **kwargs) -> torch.Tensor:
    """A grid of ``steps`` noise levels for ``schedule`` (plus the final 0).

    ``spacing`` defaults to ``"trailing"`` on a DDPM table (Lin et al. 2023's
    recommendation: the first step starts from the noisiest entry) and to
    ``"uniform-t"`` on continuous schedules. ``steps`` is bounded by the ``steps`` limit
    (:mod:`difflab.limits`): the grid is allocated up front.
    """
    check_limit("steps", steps, "steps")
    if spacing is None:
        spacing = default_spacing(schedule)
    if spacing in ("trailing", "leading", "linspace"):
        if not isinstance(schedule, DiscreteSchedule):
            raise ValueError(f"spacing {spacing!r} needs a DDPM table schedule; use one of uniform-t, karras, log-snr")
        return index_grid(schedule, steps, spacing, **kwargs)
    if spacing == "uniform-t":
        return uniform_t_grid(schedule, steps, **kwargs)
    sigma_min = kwargs.pop("sigma_min", schedule.ve_sigma_min)
    sigma_max = kwargs.pop("sigma_max", schedule.ve_sigma_max)
    if spacing == "karras":
        return karras_grid(sigma_min, sigma_max, steps, **kwargs)
    if spacing == "log-snr":
        return log_snr_grid(sigma_min, sigma_max, steps)
    if spacing == "tuned":
        return tuned_grid(sigma_max, steps, sigma_min, **kwargs)
    raise ValueError(f"unknown spacing {spacing!r}; expected one of: {', '.join(SPACINGS)}")


class DataScale(NamedTuple):
    """What one evaluation far above the data says about it: its scale sigma_data =
    sqrt(tr Cov[x_0] / D) and its effective dimension (tr Cov)^2 / tr(Cov^2) (the participation
    ratio of the covariance's eigenvalues: D for isotropic data, ~1 for data along one line);
    its mean E[x_0] per coordinate (shape of one sample) and the pooled slope beta of D on x."""

    sigma_data: float
    dim: float
    mean: torch.Tensor | None = None
    slope: float = 0.0


def data_scale_from_evaluation(x: torch.Tensor, d: torch.Tensor, sigma: float, *, rel_error: float = 0.05) -> DataScale | None:
    """The data's scale and effective dimension (:class:`DataScale`) read from one evaluation
    ``d = D(x; sigma)`` at a noise level far above the data, or None where that read is not
    precise enough.

    There the noisy marginal is nearly Gaussian and the denoiser nearly linear: for data with
    covariance C, D(x; sigma) - mu = A (x - mu) with A = C (C + sigma^2 I)^{-1} (the Gaussian
    posterior mean). Over the batch (centred per coordinate), the least-squares slope of d on x,
    pooled over coordinates, is beta = tr A / D, and q = |d|^2 / |x|^2 = tr A^2 / D. So per
    dimension s^2 = sigma^2 beta / (1 - beta) (exact for C = s^2 I), and the participation
    ratio of A's eigenvalues, D beta^2 / q, is C's effective dimension as sigma grows.

    The read is kept only where the slope's standard error (from the residual of the pooled fit,
    which holds a network's error as well as the data's anisotropy) makes s precise to
    ``rel_error``: se(beta) / beta <= 2 rel_error, with at least 32 degrees of freedom. An exact
    model passes on a batch of a few dozen; a network whose error at sigma_max exceeds the signal
    (beta ~ s^2 / sigma_max^2) does not, and the caller falls back to another source. Error in d
    only raises q, so the effective dimension errs low."""
    x = x.detach().reshape(x.shape[0], -1).to(torch.float64)
    d = d.detach().reshape(d.shape[0], -1).to(torch.float64)
    dim = x.shape[1]
    dof = (x.shape[0] - 1) * dim - 1
    if dof < 32:
        return None
    xc, dc = x - x.mean(0), d - d.mean(0)
    sxx = float((xc * xc).sum())
    if not (sxx > 0 and math.isfinite(sxx)) or not torch.isfinite(dc).all():
        return None
    beta = float((xc * dc).sum()) / sxx
    resid = float(((dc - beta * xc) ** 2).sum())
    if not 0.0 < beta < 1.0 or math.sqrt(resid / dof / sxx) > 2 * rel_error * beta:
        return None
    q = float((dc * dc).sum()) / sxx
    effective = min(max(dim * beta * beta / q, 1.0), float(dim))
    # D - mu = beta (x - mu) on the batch means: mu = (mean d - beta mean x) / (1 - beta)
    mean = (d.mean(0) - beta * x.mean(0)) / (1.0 - beta)
    return DataScale(float(sigma) * math.sqrt(beta / (1.0 - beta)), effective, mean, beta)


def data_scale_from_samples(x: torch.Tensor) -> DataScale:
    """The data's :class:`DataScale` measured on samples ``x`` (N, ...) of it, as a model that knows
    its training data declares it (``Denoiser(sigma_data=..., data_dim=...)``): sigma_data =
    sqrt(tr C / D) and the effective dimension (tr C)^2 / tr(C^2) of the sample covariance C
    (tr C^2 from the smaller of the two Gram matrices, so D may be large). Where a network's
    first evaluation is too noisy to read them (:func:`data_scale_from_evaluation`), these
    place the ``tuned`` grid's first level above the data's widest directions."""
    shape = tuple(x.shape[1:])
    x = x.detach().reshape(x.shape[0], -1).to(torch.float64)
    n, dim = x.shape
    if n < 2:
        raise ValueError(f"need at least 2 samples to measure the data's scale, got {n}")
    xc = x - x.mean(0)
    gram = xc @ xc.T if n <= dim else xc.T @ xc
    trace = float(torch.diagonal(gram).sum()) / (n - 1)
    trace2 = float((gram * gram).sum()) / (n - 1) ** 2
    if not (trace > 0 and math.isfinite(trace2)):
        raise ValueError("the samples do not vary: no data scale to measure")
    effective = min(max(trace * trace / trace2, 1.0), float(dim))
    return DataScale(math.sqrt(trace / dim), effective, x.mean(0).reshape(shape), 0.0)

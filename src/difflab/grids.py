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
    "TUNED",
    "make_grid",
    "sigma_data_from_evaluation",
    "SPACINGS",
]

SPACINGS = ("trailing", "leading", "linspace", "uniform-t", "karras", "log-snr", "tuned")


def _check_steps(steps, upper: int | None = None) -> int:
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if upper is not None and steps > upper:
        raise ValueError(f"steps must be at most T = {upper} for a DDPM index grid, got {steps}")
    return int(steps)


def ddpm_indices(T: int, steps: int, spacing: str = "trailing") -> list[int]:
    """Table indices visited by a DDPM/DDIM sampler, noisiest first (0-based)."""
    steps = _check_steps(steps, T)
    if spacing == "linspace":
        idx = np.round(np.linspace(0, T - 1, steps)).astype(np.int64) if steps > 1 else np.array([T - 1])
    elif spacing == "leading":
        idx = np.arange(steps, dtype=np.int64) * (T // steps)
    elif spacing == "trailing":
        idx = np.round(np.arange(T, 0, -T / steps)).astype(np.int64)[:steps] - 1
    else:
        raise ValueError(f"unknown DDPM spacing {spacing!r}; expected one of: linspace, leading, trailing")
    return sorted(set(int(i) for i in idx), reverse=True)


def _with_zero(sigmas) -> torch.Tensor:
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def index_grid(schedule: DiscreteSchedule, steps: int, spacing: str = "trailing") -> torch.Tensor:
    """Noise levels at the DDPM table indices of :func:`ddpm_indices`, then 0."""
    return _with_zero(schedule.ve_sigma_at_index(ddpm_indices(schedule.T, steps, spacing)))


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


#: steps -> (sigma_hi, sigma_lo) of :func:`tuned_grid`, in units of sigma_data: 5, 10 and 20 from a
#: search with UniPC on held-out mixtures (docs/samplers.md); from 50 steps sigma_lo is a DDPM
#: table's smallest level, where the budget allows the last denoise to shrink nothing visible
TUNED = {5: (2.2, 0.14), 10: (3.2, 0.06), 20: (5.4, 0.0375), 50: (8.0, 0.01), 100: (10.0, 0.01)}


def tuned_grid(sigma_max: float, steps: int, sigma_min: float = 0.0, sigma_data: float = 1.0) -> torch.Tensor:
    """The low-NFE grid of docs/samplers.md: sigma_max, then steps - 1 levels uniform in log-SNR from
    sigma_hi down to sigma_lo, then 0.

    Above a few sigma_data the noisy marginal is nearly the Gaussian N(mean, cov + sigma^2 I) and the
    probability-flow ODE nearly linear, so one (exponential-integrator) step crosses it; the
    remaining evaluations go where the modes separate. (sigma_hi, sigma_lo) / sigma_data come from
    :data:`TUNED` (searched for UniPC with the benchmark's error), interpolated linearly in
    log(steps) between its entries and held beyond them; both are kept inside
    [sigma_min, sigma_max]. Like Sabour et al. 2024 ("Align Your Steps"), a grid optimized for a
    solver and a data scale rather than a closed-form rule."""
    steps = _check_steps(steps)
    if steps == 1:
        return _with_zero([sigma_max])
    counts = sorted(TUNED)
    c = min(max(steps, counts[0]), counts[-1])
    hi_n = min(k for k in counts if k >= c)
    lo_n = max(k for k in counts if k <= c)
    w = 0.0 if hi_n == lo_n else (math.log(c) - math.log(lo_n)) / (math.log(hi_n) - math.log(lo_n))
    log_hi, log_lo = (
        (1 - w) * math.log(TUNED[lo_n][j]) + w * math.log(TUNED[hi_n][j]) + math.log(sigma_data) for j in (0, 1)
    )
    floor = math.log(max(sigma_min, 1e-12))
    log_hi = min(max(log_hi, floor), math.log(sigma_max))
    log_lo = min(max(log_lo, floor), log_hi)
    inner = torch.exp(torch.linspace(log_hi, log_lo, steps - 1, dtype=torch.float64))
    if steps > 2 and not (inner[0] < sigma_max and (inner[:-1] > inner[1:]).all()):
        raise ValueError(f"sigma_max={sigma_max:.4g}, sigma_min={sigma_min:.4g} leave no room for a {steps}-step tuned grid")
    return _with_zero(torch.cat([torch.tensor([float(sigma_max)], dtype=torch.float64), inner]))


def make_grid(schedule: Schedule, steps: int, spacing: str | None = None, **kwargs) -> torch.Tensor:
    """A grid of ``steps`` noise levels for ``schedule`` (plus the final 0).

    ``spacing`` defaults to ``"trailing"`` on a DDPM table (Lin et al. 2023's
    recommendation: the first step starts from the noisiest entry) and to
    ``"uniform-t"`` on continuous schedules. ``steps`` is bounded by the ``steps`` limit
    (:mod:`difflab.limits`): the grid is allocated up front.
    """
    check_limit("steps", steps, "steps")
    if spacing is None:
        spacing = "trailing" if isinstance(schedule, DiscreteSchedule) else "uniform-t"
    if spacing in ("trailing", "leading", "linspace"):
        if not isinstance(schedule, DiscreteSchedule):
            raise ValueError(f"spacing {spacing!r} needs a DDPM table schedule; use one of uniform-t, karras, log-snr")
        return index_grid(schedule, steps, spacing)
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


def sigma_data_from_evaluation(x: torch.Tensor, d: torch.Tensor, sigma: float, *, rel_error: float = 0.05) -> float | None:
    """The data's scale s (EDM's sigma_data) read from one evaluation ``d = D(x; sigma)`` at a noise
    level far above it, or None where that read is not precise enough.

    There the noisy marginal is nearly Gaussian and the denoiser nearly affine: for data
    N(mu, s^2 I), D(x; sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu) exactly (the Gaussian posterior
    mean), and for any data the mean slope of D tends to tr Cov[x_0] / (D sigma^2) as sigma grows.
    So the least-squares slope beta of d on x, pooled over coordinates (one intercept per
    coordinate, over the batch), gives s^2 = sigma^2 beta / (1 - beta).

    The read is kept only where its standard error (from the residual of that fit, which holds a
    network's error as well as the anisotropy of the data) makes s precise to ``rel_error``:
    se(beta) / beta <= 2 rel_error, with at least 32 degrees of freedom. An exact model passes on a
    batch of a few dozen; a network whose error at sigma_max exceeds the signal (beta ~ s^2 /
    sigma_max^2) does not, and the caller falls back to another source."""
    x = x.detach().reshape(x.shape[0], -1).to(torch.float64)
    d = d.detach().reshape(d.shape[0], -1).to(torch.float64)
    dof = (x.shape[0] - 1) * x.shape[1] - 1
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
    return float(sigma) * math.sqrt(beta / (1.0 - beta))

"""Denoising losses: one function for every prediction type and weighting.

Ho et al. 2020's simplified objective (eq. 14) is

    L_simple = E_{t, x0, eps} || eps - eps_theta(alpha_t x0 + sigma_t eps, t) ||^2,

with t uniform over the table. Training a model to predict x0 or
v = alpha eps - sigma x0 (Salimans & Ho 2022) is the same objective with the
target swapped; denoising score matching (Vincent 2011; Song & Ermon 2019
eq. 2) is the score target -eps / sigma with the weighting lambda = sigma^2.
The loss never asks which network it trains: the :class:`~difflab.Denoiser`
knows its prediction type and :func:`difflab.predictions.target` builds the target.
"""

from __future__ import annotations

from typing import Callable, Union

import torch

from . import predictions as P
from .schedules import DiscreteSchedule, Schedule
from .tensors import append_dims

__all__ = ["sample_t", "denoising_loss", "WEIGHTINGS"]

Weighting = Union[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]

#: weightings lambda(alpha, sigma) by name, applied to the per-sample squared error
WEIGHTINGS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "simple": lambda alpha, sigma: torch.ones_like(sigma),
    # NCSN / denoising score matching: lambda(sigma) = sigma^2 (Song & Ermon 2019, sec. 4.2)
    "sigma2": lambda alpha, sigma: sigma**2,
}


def sample_t(schedule: Schedule, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training times (float64): uniform over table entries for a DDPM table
    (Ho et al. Algorithm 1), uniform on [t_min, 1] for continuous schedules."""
    if isinstance(schedule, DiscreteSchedule):
        index = torch.randint(0, schedule.T, (n,), generator=generator)
        return schedule.t_from_index(index.to(torch.float64))
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return schedule.t_min + (1 - schedule.t_min) * u


def denoising_loss(
    denoiser,
    x0: torch.Tensor,
    *,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    weighting: Weighting | None = None,
    cond: dict | None = None,
) -> torch.Tensor:
    """Mean over the batch of lambda(t) * mean_dims || target - net(x_t, t) ||^2.

    The target is the denoiser's own prediction type (eps, x0, v or score).
    ``weighting`` is a name in :data:`WEIGHTINGS` or a function of (alpha, sigma);
    the default is ``"simple"``, except for score models where it is ``"sigma2"``
    (without it the score target -eps/sigma explodes at small sigma).
    """
    n = x0.shape[0]
    if t is None:
        t = sample_t(denoiser.schedule, n, generator)
    t = torch.as_tensor(t, dtype=torch.float64).cpu()
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32).to(x0)
    alpha = append_dims(denoiser.schedule.alpha(t), x0.ndim).to(x0)
    sigma = append_dims(denoiser.schedule.sigma(t), x0.ndim).to(x0)
    x_t = alpha * x0 + sigma * noise
    out = denoiser.net_output(x_t, t, **(cond or {}))
    tgt = P.target(denoiser.prediction, x0, noise, alpha, sigma)
    per_sample = (out.float() - tgt.float()).pow(2).reshape(n, -1).mean(1)
    if weighting is None:
        weighting = "sigma2" if denoiser.prediction is P.Prediction.SCORE else "simple"
    if isinstance(weighting, str):
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {weighting!r}; expected one of: {', '.join(WEIGHTINGS)}")
        weighting = WEIGHTINGS[weighting]
    w = weighting(alpha.reshape(n, -1)[:, 0], sigma.reshape(n, -1)[:, 0]).float()
    return (w * per_sample).mean()

"""DDPM ancestral sampling and DDIM, written in scaled coordinates.

Both take ``x`` at noise level ``sigmas[0]`` in the coordinates x_t / alpha_t,
a decreasing grid of noise levels sigma = sigma_t / alpha_t that ends at 0, and a
denoiser ``D(x, sigma) ~ E[x_0 | x]``. For a variance-preserving schedule the
update is exactly the one of the papers, written in alpha-bar:
``sigma^2 = (1 - alpha_bar) / alpha_bar``.
"""

from __future__ import annotations

import torch

from ..tensors import randn
from ._common import Callback, report

__all__ = ["sample_ddpm", "sample_ddim"]


def sample_ddpm(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    variance: str = "posterior",
) -> torch.Tensor:
    """Ancestral sampling, Ho et al. 2020, Algorithm 2 (on any sub-grid of the table).

    Each step draws x_s from p(x_s | x_t) = N(mu, var I), with mu the mean of the
    posterior q(x_s | x_t, x0 = D(x_t)) (eqs. 6-7), in scaled coordinates

        mu = x0 + (sigma_s^2 / sigma_t^2) (x_t - x0),

    and ``variance`` either ``"posterior"`` (beta-tilde, eq. 7: the posterior's own
    variance sigma_s^2 (sigma_t^2 - sigma_s^2) / sigma_t^2) or ``"beta"`` (the upper
    bound sigma^2 = beta_t = 1 - alpha_bar_t / alpha_bar_s of sec. 3.2, i.e.
    (sigma_t^2 - sigma_s^2)(1 + sigma_s^2) / (1 + sigma_t^2) in scaled units). The
    last step, to sigma = 0, adds no noise.
    """
    if variance not in ("posterior", "beta"):
        raise ValueError(f"variance must be 'posterior' or 'beta', got {variance!r}")
    cond = cond or {}
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        x0 = denoiser(x, s, **cond)
        report(callback, i, x, s, s_next, x0)
        if s_next == 0:
            x = x0
            continue
        if variance == "posterior":
            var = s_next**2 * (s**2 - s_next**2) / s**2
        else:
            var = (s**2 - s_next**2) * (1 + s_next**2) / (1 + s**2)
        mean = torch.lerp(x0, x, s_next**2 / s**2)  # x0 + (sigma_s^2 / sigma_t^2)(x_t - x0), one kernel
        x = mean.add_(randn(x.shape, generator, device=x.device, dtype=x.dtype), alpha=var**0.5)
    return x


def sample_ddim(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    eta: float = 0.0,
) -> torch.Tensor:
    """DDIM, Song, Meng & Ermon 2021, eq. 12, in scaled coordinates:

        eps_hat  = (x_t - x0) / sigma_t
        sigma_up = eta * sigma_s * sqrt((sigma_t^2 - sigma_s^2) / sigma_t^2)       (eq. 16)
        x_s      = x0 + sqrt(sigma_s^2 - sigma_up^2) eps_hat + sigma_up z.

    eta = 0 is deterministic (and equals an Euler step of the probability-flow
    ODE in sigma, Karras et al. 2022 sec. 4); eta = 1 is DDPM ancestral sampling
    with the posterior variance.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    cond = cond or {}
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        x0 = denoiser(x, s, **cond)
        report(callback, i, x, s, s_next, x0)
        sigma_up = min(s_next, eta * s_next * ((s**2 - s_next**2) / s**2) ** 0.5)
        sigma_down = (s_next**2 - sigma_up**2) ** 0.5
        x = torch.lerp(x0, x, sigma_down / s)  # x0 + sigma_down eps_hat, eps_hat = (x - x0) / sigma_t
        if sigma_up > 0:
            x = x.add_(randn(x.shape, generator, device=x.device, dtype=x.dtype), alpha=sigma_up)
    return x

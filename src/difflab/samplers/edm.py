"""Euler and Heun in the EDM formulation, with optional churn (Karras et al. 2022, Algorithm 2).

At step i the state x at sigma_i is first "churned": a little noise raises the
level to sigma_hat = sigma_i (1 + gamma_i),

    gamma_i = min(S_churn / N, sqrt(2) - 1)  if S_tmin <= sigma_i <= S_tmax  else 0,
    x_hat   = x + sqrt(sigma_hat^2 - sigma_i^2) S_noise z,

then one Euler or Heun step of the probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma
goes from sigma_hat to sigma_{i+1}. With S_churn = 0 (the default) both are the
deterministic ODE solvers of Algorithm 1.

Heun's correction is bounded on long steps. In data-prediction form Algorithm 1's step is

    x' = x_euler + (sigma / sigma' - 1) / 2 * (D(x_euler; sigma') - D(x; sigma)),

while the exact solution, x' = (sigma'/sigma) x + int e^{-(lambda' - u)} D(u) du with
lambda = -log sigma (Lu et al. 2022b, eq. 9), differs from the Euler (= DDIM) point by
positive weights on the change of D that sum to 1 - sigma'/sigma < 1. Heun's weight
(sigma/sigma' - 1)/2 stays within that bound exactly while sigma' >= sigma/2; on a longer
step it extrapolates past the end point's estimate (weight 1600 on the 2e4 -> 6.4 step of a
cosine DDPM table, whose first trailing step spans 3.5 decades). On such a step the
weight is capped at the bound: x' = (sigma'/sigma) x + (1 - sigma'/sigma) D(x_euler; sigma'),
the exponential-integrator step with the end point's estimate. The step is continuous
in sigma' (equal to Heun at sigma' = sigma/2, to the Euler step as sigma' -> 0), costs the
same evaluation, and leaves every step with sigma' >= sigma/2 bit-for-bit Algorithm 1,
so Heun's second order holds as the grid is refined.
"""

from __future__ import annotations

import math

import torch

from ..tensors import randn
from ._common import Callback, levels, report
from .ode import bounded_heun_step, euler_step

__all__ = ["sample_euler", "sample_heun", "churned_levels"]


def churned_levels(s: list[float], churn: float, s_tmin: float, s_tmax: float, s_noise: float) -> list[tuple[float, float | None]]:
    """(sigma_hat, noise) of every step of the grid ``s``, once per run (Karras et al. 2022,
    Algorithm 2, lines 4-6): sigma_hat = sigma_i (1 + gamma_i) and the noise's scale
    sqrt(sigma_hat^2 - sigma_i^2) S_noise, None where gamma_i = 0 (no noise drawn)."""
    n = len(s) - 1
    out = []
    for v in s[:-1]:
        gamma = min(churn / n, math.sqrt(2) - 1) if s_tmin <= v <= s_tmax else 0.0
        s_hat = v * (1 + gamma)
        out.append((s_hat, math.sqrt(s_hat**2 - v**2) * s_noise if gamma > 0 else None))
    return out


def _edm_loop(step, denoiser, x, sigmas, cond, generator, callback, churn, s_tmin, s_tmax, s_noise):
    if churn < 0:
        raise ValueError(f"churn must be >= 0, got {churn}")
    cond = cond or {}
    s = levels(sigmas)
    for i, (s_hat, noise) in enumerate(churned_levels(s, churn, s_tmin, s_tmax, s_noise)):
        if noise is not None:
            x = x + noise * randn(x.shape, generator, device=x.device, dtype=x.dtype)
        x0 = denoiser(x, s_hat, **cond)
        report(callback, i, x, s_hat, s[i + 1], x0)
        x = step(denoiser, x, x0, s_hat, s[i + 1], cond)
    return x


def sample_euler(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
) -> torch.Tensor:
    """Euler, Karras et al. 2022 Algorithm 2 without the Heun correction:
    x_{i+1} = x_hat + (sigma_{i+1} - sigma_hat) (x_hat - D(x_hat; sigma_hat)) / sigma_hat.
    1 evaluation per step. With churn = 0 this is DDIM (eta = 0)."""
    return _edm_loop(euler_step, denoiser, x, sigmas, cond, generator, callback, churn, s_tmin, s_tmax, s_noise)


def sample_heun(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
) -> torch.Tensor:
    """Heun's second-order method, Karras et al. 2022 Algorithm 2 (lines 5-11):
    an Euler step to sigma_{i+1}, then the average of the slopes at both ends.
    On a step with sigma_{i+1} < sigma_hat / 2 the correction is capped at the largest
    weight the exact ODE solution can give the end point's denoised estimate (module
    docstring), which keeps grids starting at a huge sigma_max (cosine DDPM tables) stable.
    2 evaluations per step, 1 on the last (to sigma = 0)."""
    return _edm_loop(bounded_heun_step, denoiser, x, sigmas, cond, generator, callback, churn, s_tmin, s_tmax, s_noise)

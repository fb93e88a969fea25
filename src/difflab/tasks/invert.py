"""DDIM inversion: the starting noise from which the deterministic sampler returns a given sample.

DDIM with eta = 0 (Song et al. 2021a, eq. 12) is the Euler method of the probability-flow
ODE in the scaled coordinates x = x_0 + sigma eps (Karras et al. 2022, sec. 3):

    x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (x_i - D(x_i; sigma_i)) / sigma_i.

Inversion runs the same ODE the other way, by Euler steps from the sample at sigma = 0
up the grid to sigma_max, each taking the direction at the level it starts from:

    x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (x_i - D(x_i; sigma_i)) / sigma_i.

At sigma = 0 the direction is undefined, so the first step takes it at the level it steps
to, as DDIM inversion does everywhere (Dhariwal & Nichol 2021, app. F; Mokady et al.
2023, eq. 4: "the noise predicted at the next timestep"). Doing so at every step would
break on a grid whose last step is long (a DDPM table's sigma_max is far above the level
before it: the direction read there says almost nothing about x_i).

The result, divided by sqrt(1 + sigma_max^2), is the standard-normal ``noise`` that
:func:`difflab.sample` takes: sampling it with ``ddim`` (eta = 0) on the same grid gives
the sample back to the accuracy of the ODE's discretisation (closer with more steps); with
eta > 0 it gives variations that keep the sample's layout (Ramesh et al. 2022, sec. 3.1).
"""

from __future__ import annotations

import math

import torch

__all__ = ["ddim_invert"]


@torch.no_grad()
def ddim_invert(denoiser, x0: torch.Tensor, sigmas: torch.Tensor, *, cond: dict | None = None) -> torch.Tensor:
    """The standard-normal noise (module docstring) whose ``ddim`` solution on the decreasing
    grid ``sigmas`` (ending at 0, as :func:`difflab.grids.make_grid` makes) is ``x0``, in the
    model's coordinates. ``cond``: the conditioning the sample will be drawn with."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    if sigmas.ndim != 1 or len(sigmas) < 2 or sigmas[-1] != 0 or not (sigmas[:-1] > sigmas[1:]).all():
        raise ValueError("sigmas must be a strictly decreasing 1-d grid that ends at 0")
    levels = sigmas.flip(0).tolist()  # 0, ..., sigma_max
    x = x0.float()
    n = x.shape[0]
    for s, s_next in zip(levels[:-1], levels[1:]):
        at = s if s > 0 else s_next
        d = denoiser(x, torch.full((n,), at, dtype=torch.float64), **(cond or {}))
        x = x + (s_next - s) * (x - d) / at
    return x / math.sqrt(1.0 + levels[-1] ** 2)

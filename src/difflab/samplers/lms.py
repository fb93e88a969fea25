"""Linear multistep (LMS): Adams-Bashforth on the probability-flow ODE in sigma.

The ODE dx/dsigma = d(x, sigma) = (x - D(x; sigma)) / sigma (Karras et al. 2022, eq. 3)
is integrated over each step by replacing d with the polynomial through its values
at the last ``order`` grid levels (Lagrange interpolation) and integrating that
polynomial exactly:

    x_{i+1} = x_i + sum_{j=0}^{k-1} c_{ij} d_{i-j},
    c_{ij} = int_{sigma_i}^{sigma_{i+1}} l_j(s) ds,   l_j(sigma_{i-m}) = [j = m],

with k = min(i + 1, order): Euler on the first step, order 2 on the second, and so on
(the classical Adams-Bashforth construction, Hairer, Norsett & Wanner, *Solving ODEs I*,
sec. III.1; the sampler Crowson's k-diffusion and diffusers' ``LMSDiscreteScheduler``
call "LMS", default order 4). One evaluation per step. The coefficients are computed
by Gauss-Legendre quadrature, exact in float64 for these degrees (the rule the
exponential integrators use, :func:`~difflab.samplers._common.lagrange_weights`).
"""

from __future__ import annotations

import numpy as np
import torch

from ._common import GL_NODES, GL_WEIGHTS, Callback, group_by_length, lagrange_weights, levels, report, weighted_sum
from .ode import ode_derivative

__all__ = ["sample_lms", "lms_weights", "lms_coefficients"]


def lms_weights(nodes, lo, hi) -> np.ndarray:
    """c_j = int_lo^hi l_j(s) ds for the Lagrange basis l_j of ``nodes`` (Gauss-Legendre,
    exact in float64 for these degrees). Batched like
    :func:`~difflab.samplers._common.lagrange_weights`: ``nodes`` (..., k), ``lo`` and ``hi`` (...)."""
    lo, hi = np.asarray(lo, dtype=np.float64)[..., None], np.asarray(hi, dtype=np.float64)[..., None]
    u = 0.5 * (hi - lo) * GL_NODES + 0.5 * (lo + hi)
    return lagrange_weights(nodes, u, 0.5 * (hi - lo) * GL_WEIGHTS)


def lms_coefficients(s: list[float], order: int) -> list[list[float]]:
    """The coefficients c_{ij} of every step i of the grid ``s`` (module docstring), newest
    node first, k = min(i + 1, order) of them: one batched quadrature per k, once per run."""
    nodes = [s[i::-1][:order] for i in range(len(s) - 1)]
    table: list[list[float]] = [[] for _ in nodes]
    for steps in group_by_length(nodes).values():
        weights = lms_weights([nodes[i] for i in steps], [s[i] for i in steps], [s[i + 1] for i in steps])
        for i, row in zip(steps, weights.tolist()):
            table[i] = row
    return table


def sample_lms(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    order: int = 4,
) -> torch.Tensor:
    """LMS of ``order`` (module docstring): one evaluation per step; the step to
    sigma = 0 integrates the same polynomial down to 0. Deterministic (``generator`` unused).
    The coefficients of all steps are computed before the first (:func:`lms_coefficients`)."""
    if int(order) != order or order < 1:
        raise ValueError(f"order must be a positive integer, got {order}")
    cond = cond or {}
    s = levels(sigmas)
    slopes: list[torch.Tensor] = []  # d at s[i], s[i-1], ... (newest first)
    for i, coefficients in enumerate(lms_coefficients(s, int(order))):
        x0 = denoiser(x, s[i], **cond)
        report(callback, i, x, s[i], s[i + 1], x0)
        slopes = [ode_derivative(x, x0, s[i]), *slopes][: int(order)]
        x = weighted_sum(x, 1.0, coefficients, slopes)
    return x

"""What every sampler shares: the callback report, NFE counting and the multistep solvers' quadrature."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

Callback = Callable[[dict], None]

#: 24-node Gauss-Legendre rule on [-1, 1]: exact for polynomials of degree <= 47
GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(24)


def lagrange_weights(nodes, u: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """w_j = sum_k kernel[k] l_j(u[k]), l_j the Lagrange basis polynomial of ``nodes`` (1 at
    nodes[j], 0 at the others): with quadrature points ``u`` and ``kernel`` = quadrature
    weights times an integrand's weight function, the integral of that function times the
    interpolant through (nodes[j], y_j) is sum_j w_j y_j. Shared by the multistep solvers.

    Batched over leading axes: ``nodes`` of shape (..., k), ``u`` and ``kernel`` of shape
    (..., q) give weights of shape (..., k), one row per step, so a sampler computes the
    weights of all its steps at once. Each row is computed by the same float64 operations
    in the same order as a single call."""
    nodes = np.asarray(nodes, dtype=np.float64)
    cols = [nodes[..., m, None] for m in range(nodes.shape[-1])]
    offsets = [u - lm for lm in cols]  # u - nodes[m], shared by the k - 1 basis polynomials that vanish at nodes[m]
    weights = []
    for j, lj in enumerate(cols):
        basis = kernel
        for m, lm in enumerate(cols):
            if m != j:
                basis = basis * offsets[m] / (lj - lm)
        weights.append(basis.sum(-1))
    return np.stack(weights, -1)


def levels(sigmas) -> list[float]:
    """The grid's noise levels as Python floats, read once per run (not two tensor reads per step)."""
    return sigmas.tolist() if isinstance(sigmas, torch.Tensor) else [float(v) for v in sigmas]


def weighted_sum(x: torch.Tensor, scale: float, weights: Sequence[float], tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """scale * x + sum_j weights[j] tensors[j] in len(weights) + 1 kernels: one multiply, then one
    fused multiply-add per term (``add_`` with ``alpha``) on the new tensor. That is not bit for bit
    the unfused ``scale * x + sum(w * t)``: the FMA rounds once per term where ``w * t`` and the sum
    round twice, and the terms go onto scale * x one by one; the results agree to a few ulps."""
    out = torch.mul(x, scale)
    for w, t in zip(weights, tensors):
        out.add_(t, alpha=w)
    return out


def group_by_length(rows: Sequence[Sequence]) -> dict[int, list[int]]:
    """The indices of ``rows`` grouped by the rows' lengths (the number of interpolation
    nodes of each step), so that each group's weights are one batched computation."""
    groups: dict[int, list[int]] = {}
    for r, row in enumerate(rows):
        groups.setdefault(len(row), []).append(r)
    return groups


def report(callback: Callback | None, i: int, x: torch.Tensor, sigma: float, sigma_next: float, x0: torch.Tensor) -> None:
    """Tell ``callback`` where step ``i`` stands: the state x at ``sigma``, the
    denoiser's estimate x0 of the clean data, and the level the step goes to."""
    if callback is not None:
        callback({"i": i, "x": x, "sigma": sigma, "sigma_next": sigma_next, "x0": x0})


class CountingDenoiser:
    """Wraps a denoiser, counts its evaluations (NFE) and refuses non-finite output."""

    def __init__(self, denoiser) -> None:
        self.denoiser = denoiser
        self.nfe = 0

    def __call__(self, x, sigma, **cond):
        self.nfe += 1
        x0 = self.denoiser(x, sigma, **cond)
        if not torch.isfinite(x0).all():
            level = float(torch.as_tensor(sigma).reshape(-1)[0])
            raise FloatingPointError(f"the model returned NaN or inf at noise level sigma={level:.4g} (evaluation {self.nfe})")
        return x0

    def __getattr__(self, name):
        return getattr(self.denoiser, name)

"""What every sampler shares: the callback report and NFE counting."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

Callback = Callable[[dict], None]

#: 24-node Gauss-Legendre rule on [-1, 1]: exact for polynomials of degree <= 47
GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(24)


def lagrange_weights(nodes: Sequence[float], u: np.ndarray, kernel: np.ndarray) -> list[float]:
    """w_j = sum_k kernel[k] l_j(u[k]), l_j the Lagrange basis polynomial of ``nodes`` (1 at
    nodes[j], 0 at the others): with quadrature points ``u`` and ``kernel`` = quadrature
    weights times an integrand's weight function, the integral of that function times the
    interpolant through (nodes[j], y_j) is sum_j w_j y_j. Shared by the multistep solvers."""
    weights = []
    for j, lj in enumerate(nodes):
        basis = kernel
        for m, lm in enumerate(nodes):
            if m != j:
                basis = basis * (u - lm) / (lj - lm)
        weights.append(float(basis.sum()))
    return weights


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

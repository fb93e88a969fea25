"""Sliced Wasserstein-2 distance between two equal-size point clouds.

SW_2(X, Y)^2 = E_theta[ W_2^2(theta^T X, theta^T Y) ] over directions theta uniform on
the sphere (Rabin et al. 2011; Bonneel et al. 2015). In one dimension W_2
between equal-size empirical measures is the RMS difference of the sorted
projections. The directions are fixed by a seed so that two calls compare
like with like.
"""

from __future__ import annotations

import torch

__all__ = ["sliced_wasserstein", "noise_floor"]


def _directions(dim: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(dim, n, generator=g, dtype=torch.float64)
    return theta / theta.norm(dim=0, keepdim=True)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_projections: int = 256, seed: int = 0) -> float:
    """SW_2 between samples ``x`` and ``y`` (same count, shape (N, ...))."""
    x = torch.as_tensor(x, dtype=torch.float64).reshape(len(x), -1)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(len(y), -1)
    if x.shape != y.shape:
        raise ValueError(f"sliced_wasserstein needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("sliced_wasserstein got NaN or inf samples")
    theta = _directions(x.shape[1], n_projections, seed)
    px, _ = torch.sort(x @ theta, dim=0)
    py, _ = torch.sort(y @ theta, dim=0)
    return float(((px - py) ** 2).mean().sqrt())


def noise_floor(draw, n: int, n_projections: int = 256, seed: int = 0) -> float:
    """SW_2 between two independent true draws of size n: the error of a perfect
    sampler. ``draw(n, generator)`` returns n samples."""
    a = draw(n, torch.Generator().manual_seed(10_000 + seed))
    b = draw(n, torch.Generator().manual_seed(20_000 + seed))
    return sliced_wasserstein(a, b, n_projections, seed)

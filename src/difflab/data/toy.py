"""Two-dimensional toy distributions, generated (no files).

Each dataset is a function ``draw(n, generator) -> (n, 2) float32`` in its own
natural coordinates; training standardises with :class:`~difflab.data.transforms.Affine`
and stores that transform in the model config.
"""

from __future__ import annotations

import math

import torch

from ..models.gaussian_mixture import eight_gaussians

__all__ = ["TOY_DATASETS", "toy_dataset", "exact_model", "moons", "swiss_roll", "checkerboard", "gaussians8"]


def _gen(generator) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    return torch.Generator().manual_seed(int(generator) if generator is not None else 0)


def moons(n: int, generator=None, noise: float = 0.05) -> torch.Tensor:
    """Two interleaving half circles (as scikit-learn's make_moons), Gaussian noise ``noise``."""
    g = _gen(generator)
    upper = torch.rand(n, generator=g) < 0.5
    theta = torch.rand(n, generator=g) * math.pi
    x = torch.where(upper, torch.cos(theta), 1 - torch.cos(theta))
    y = torch.where(upper, torch.sin(theta), 0.5 - torch.sin(theta))
    return torch.stack([x, y], 1) + noise * torch.randn(n, 2, generator=g)


def swiss_roll(n: int, generator=None, noise: float = 0.3) -> torch.Tensor:
    """The 2-D swiss roll: r = u, angle = u for u uniform on [1.5 pi, 4.5 pi], scaled by 1/5."""
    g = _gen(generator)
    u = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    pts = torch.stack([u * torch.cos(u), u * torch.sin(u)], 1) + noise * torch.randn(n, 2, generator=g)
    return pts / 5


def checkerboard(n: int, generator=None) -> torch.Tensor:
    """Uniform on the dark squares of a 4x4 checkerboard on [-2, 2]^2 (Grathwohl et al. 2019)."""
    g = _gen(generator)
    x1 = torch.rand(n, generator=g) * 4 - 2
    x2 = torch.rand(n, generator=g) - 2 * torch.randint(0, 2, (n,), generator=g).float()
    x2 = x2 + (torch.floor(x1) % 2)
    return torch.stack([x1, x2], 1)


def gaussians8(n: int, generator=None) -> torch.Tensor:
    """Eight Gaussians on a circle of radius 2, std 0.2: exactly :func:`difflab.models.eight_gaussians`."""
    return eight_gaussians().sample(n, _gen(generator)).float()


#: the seeds of a toy set's held-out draw, and of the second draw its noise floor compares
#: with; training streams never use them (they are seeded from small run seeds)
HELD_OUT_SEED, REFERENCE_SEED = 2**31 - 1, 2**31 - 2

TOY_DATASETS = {"moons": moons, "swiss-roll": swiss_roll, "8gaussians": gaussians8, "checkerboard": checkerboard}


def toy_dataset(name: str):
    """The draw function of toy dataset ``name``."""
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of: {', '.join(TOY_DATASETS)}")
    return TOY_DATASETS[name]


def exact_model(name: str):
    """The closed-form :class:`~difflab.models.GaussianMixture` of a toy set, or None."""
    toy_dataset(name)
    return eight_gaussians() if name == "8gaussians" else None

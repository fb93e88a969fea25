"""Pure conversions between what a network may predict, given x_t = alpha x_0 + sigma eps.

    x0    = (x_t - sigma eps) / alpha
    eps   = (x_t - alpha x0) / sigma
    v     = alpha eps - sigma x0                      (Salimans & Ho 2022, sec. 4)
    score = grad log p_t(x_t) = -E[eps | x_t] / sigma (Vincent 2011; Song et al. 2021)

For a non-variance-preserving path (alpha^2 + sigma^2 != 1) the v inverse is
x0 = (alpha x_t - sigma v) / (alpha^2 + sigma^2), eps = (sigma x_t + alpha v) / (alpha^2 + sigma^2),
which reduces to Salimans & Ho's when alpha^2 + sigma^2 = 1.

``alpha`` and ``sigma`` must already broadcast against ``x`` (see
:func:`difflab.tensors.append_dims`). These functions are the only place the
algebra lives; :class:`difflab.Denoiser` calls them once per evaluation.
"""

from __future__ import annotations

from enum import Enum

import torch

__all__ = ["Prediction", "to_x0", "from_x0", "convert", "target"]


class Prediction(str, Enum):
    """What a network's output means."""

    EPS = "eps"
    X0 = "x0"
    V = "v"
    SCORE = "score"

    @classmethod
    def parse(cls, value: "str | Prediction") -> "Prediction":
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(p.value for p in cls)
            raise ValueError(f"unknown prediction {value!r}; expected one of: {valid}") from None


def to_x0(kind, out: torch.Tensor, x: torch.Tensor, alpha, sigma) -> torch.Tensor:
    """x0 implied by a prediction ``out`` of type ``kind`` at x_t = ``x``."""
    kind = Prediction.parse(kind)
    if kind is Prediction.X0:
        return out
    if kind is Prediction.EPS:
        return (x - sigma * out) / alpha
    if kind is Prediction.V:
        return (alpha * x - sigma * out) / (alpha**2 + sigma**2)
    # score: eps = -sigma * score
    return (x + sigma**2 * out) / alpha


def from_x0(kind, x0: torch.Tensor, x: torch.Tensor, alpha, sigma) -> torch.Tensor:
    """The prediction of type ``kind`` implied by ``x0`` at x_t = ``x``."""
    kind = Prediction.parse(kind)
    if kind is Prediction.X0:
        return x0
    eps = (x - alpha * x0) / sigma
    if kind is Prediction.EPS:
        return eps
    if kind is Prediction.V:
        return alpha * eps - sigma * x0
    return -eps / sigma


def convert(out: torch.Tensor, source, dest, x: torch.Tensor, alpha, sigma) -> torch.Tensor:
    """Convert a prediction from type ``source`` to type ``dest``."""
    source, dest = Prediction.parse(source), Prediction.parse(dest)
    if source is dest:
        return out
    if source is Prediction.EPS and dest is Prediction.SCORE:
        return -out / sigma
    return from_x0(dest, to_x0(source, out, x, alpha, sigma), x, alpha, sigma)


def target(kind, x0: torch.Tensor, eps: torch.Tensor, alpha, sigma) -> torch.Tensor:
    """Training target of type ``kind`` for x_t = alpha x0 + sigma eps (no x_t needed)."""
    kind = Prediction.parse(kind)
    if kind is Prediction.X0:
        return x0
    if kind is Prediction.EPS:
        return eps
    if kind is Prediction.V:
        return alpha * eps - sigma * x0
    return -eps / sigma

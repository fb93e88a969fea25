"""Imputation by replacement around any denoiser and any sampler (Song et al. 2021, app. I.2).

Known values ``known`` at the positions where ``mask == 0`` are kept; positions with
``mask == 1`` are generated (one convention everywhere: 1 / white = regenerate).
At every network evaluation at noise level sigma the known part of the state is
replaced by a draw of the forward process at that level, known + sigma z (in the
scaled coordinates of the samplers), so the model sees a state consistent with the
observation; the known part of its estimate of x_0 is then pasted back exactly:

    x_in = (1 - m) (known + sigma z) + m x,      D'(x; sigma) = (1 - m) known + m D(x_in; sigma).

Because every sampler ends with an x_0 estimate, the final sample equals ``known``
to the bit outside the mask. The noise z is drawn once per run (per sample), the
choice of Song et al.'s PC imputation for a smooth trajectory.
"""

from __future__ import annotations

import torch

from .tensors import GeneratorLike, generators, randn

__all__ = ["Inpainter"]


class Inpainter:
    """A denoiser that conditions ``denoiser`` on ``known`` outside ``mask`` (1 = generate)."""

    def __init__(self, denoiser, known: torch.Tensor, mask: torch.Tensor, generator: GeneratorLike = None) -> None:
        if not hasattr(denoiser, "schedule"):
            raise TypeError("denoiser must be a difflab Denoiser (it needs a .schedule)")
        mask = torch.as_tensor(mask)
        if mask.shape != known.shape:
            try:
                mask = mask.expand_as(known)
            except RuntimeError:
                raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit data of shape {tuple(known.shape)}") from None
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("mask must hold only 0 (keep) and 1 (generate)")
        self.denoiser = denoiser
        self.schedule = denoiser.schedule
        self.known = known
        self.mask = mask.to(known.dtype)
        if isinstance(generator, int) and not isinstance(generator, bool):
            generator = generators(generator + 7_777_777, known.shape[0])
        self.generator = generator

    def __call__(self, x: torch.Tensor, sigma, **cond) -> torch.Tensor:
        m = self.mask.to(x)
        keep = 1 - m
        known = self.known.to(x)
        z = randn(known.shape, self.generator, device=x.device, dtype=x.dtype)
        sigma_t = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        sigma_t = sigma_t.reshape(-1, *([1] * (x.ndim - 1))) if sigma_t.ndim else sigma_t
        x_in = keep * (known + sigma_t * z) + m * x
        x0 = self.denoiser(x_in, sigma, **cond)
        return keep * known + m * x0

    def eval(self):
        if hasattr(self.denoiser, "eval"):
            self.denoiser.eval()
        return self

    def train(self, mode: bool = True):
        if hasattr(self.denoiser, "train"):
            self.denoiser.train(mode)
        return self

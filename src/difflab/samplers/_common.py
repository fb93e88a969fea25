"""What every sampler shares: the callback report and NFE counting."""

from __future__ import annotations

from typing import Callable

import torch

Callback = Callable[[dict], None]


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

"""Exponential moving average of weights, with its horizon as a half-life in samples
(Karras et al. 2022, app. C: the EMA "half-life" is the number of training images
after which an old weight's contribution has halved, independent of batch size).

Their training loop also ramps the half-life up at the start, to at most a fraction
(``ema_rampup_ratio = 0.05``) of the images seen so far, so that a short run's EMA
is not dominated by the random initial weights: :func:`ema_half_life`."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["EMA", "ema_half_life"]


def ema_half_life(half_life: float, samples_seen: int, rampup: float | None = None) -> float:
    """The half-life to use after ``samples_seen`` training samples: ``half_life``, or
    ``min(half_life, rampup * samples_seen)`` with a ramp-up (Karras et al. 2022, app. C)."""
    if rampup is None:
        return half_life
    return max(min(half_life, rampup * samples_seen), 1e-8)


class EMA:
    """theta_ema <- beta theta_ema + (1 - beta) theta, beta = 0.5^(batch_size / half_life)."""

    def __init__(self, module: nn.Module, half_life: float) -> None:
        if half_life <= 0:
            raise ValueError(f"EMA half_life must be positive, got {half_life}")
        self.half_life = float(half_life)
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module, batch_size: int, half_life: float | None = None) -> None:
        """One step after ``batch_size`` samples; ``half_life`` overrides ``self.half_life``
        (a ramp-up, :func:`ema_half_life`)."""
        beta = 0.5 ** (batch_size / (half_life or self.half_life))
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].lerp_(v.detach(), 1 - beta)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict:
        return dict(self.shadow)

    def load_state_dict(self, state: dict) -> None:
        missing = sorted(set(self.shadow) - set(state))
        if missing:
            raise ValueError(f"EMA state lacks {missing[:3]}")
        for k in self.shadow:
            self.shadow[k].copy_(state[k])

    @contextlib.contextmanager
    def swapped_in(self, module: nn.Module):
        """Use the EMA weights inside the block; the training weights come back after."""
        backup = {k: v.detach().clone() for k, v in module.state_dict().items()}
        module.load_state_dict(self.shadow)
        try:
            yield module
        finally:
            module.load_state_dict(backup)

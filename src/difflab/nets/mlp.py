"""A residual MLP for low-dimensional data (the 2-D toys)."""

from __future__ import annotations

import torch
from torch import nn

from .embedding import sinusoidal_embedding

__all__ = ["MLP"]


class _Block(nn.Module):
    def __init__(self, width: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.emb = nn.Linear(emb_dim, width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h, emb):
        z = self.norm(h) + self.emb(emb)
        return h + self.fc2(nn.functional.silu(self.fc1(nn.functional.silu(z))))


class MLP(nn.Module):
    """x (N, dim) and a noise-level input (N,) -> a vector of the same shape as x.

    The noise-level input (whatever the Denoiser feeds it: a DDPM index, t,
    log-SNR ...) is multiplied by ``input_scale``, embedded sinusoidally and
    added inside every residual block. The network knows nothing of schedules.
    """

    def __init__(self, dim: int = 2, width: int = 256, depth: int = 3, emb_dim: int = 128,
                 max_period: float = 10_000.0, input_scale: float = 1.0) -> None:
        super().__init__()
        self.config = {"type": "mlp", "dim": dim, "width": width, "depth": depth, "emb_dim": emb_dim,
                       "max_period": max_period, "input_scale": input_scale}
        self.emb_dim, self.max_period, self.input_scale = emb_dim, max_period, input_scale
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList(_Block(width, emb_dim) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, dim))

    def forward(self, x: torch.Tensor, noise_input: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(sinusoidal_embedding(noise_input * self.input_scale, self.emb_dim, self.max_period))
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)

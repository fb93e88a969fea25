"""Noise-level embeddings: a scalar per sample -> a feature vector."""

from __future__ import annotations

import math

import torch

__all__ = ["sinusoidal_embedding"]


def sinusoidal_embedding(x: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer positional encoding of a scalar (Vaswani et al. 2017, sec. 3.5), as
    used for the DDPM time step (Ho et al. 2020, app. B): [cos(x f_k), sin(x f_k)] with
    frequencies f_k = max_period^(-k / (dim/2)), k = 0 .. dim/2 - 1."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    args = x.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb

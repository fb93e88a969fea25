"""Data transforms stored in a model's config, so samples map back to data space."""

from __future__ import annotations

import torch

__all__ = ["Affine"]


class Affine:
    """x_model = (x_data - shift) / scale, per feature (broadcast over trailing dims)."""

    def __init__(self, shift, scale) -> None:
        self.shift = torch.as_tensor(shift, dtype=torch.float32)
        self.scale = torch.as_tensor(scale, dtype=torch.float32)
        if (self.scale <= 0).any():
            raise ValueError("Affine scale must be positive")

    @classmethod
    def standardize(cls, data: torch.Tensor) -> "Affine":
        """Zero mean, unit variance per feature, estimated from ``data`` (N, D)."""
        return cls(data.mean(0), data.std(0))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift.to(x)) / self.scale.to(x)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x) + self.shift.to(x)

    def to_config(self) -> dict:
        return {"type": "affine", "shift": self.shift.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_config(cls, config: dict) -> "Affine":
        return cls(config["shift"], config["scale"])

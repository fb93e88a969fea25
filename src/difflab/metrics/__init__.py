"""Sample-quality metrics."""

from .wasserstein import noise_floor, sliced_wasserstein

__all__ = ["sliced_wasserstein", "noise_floor"]

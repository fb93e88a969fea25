"""Nearest-neighbour memorisation rate (after Carlini et al. 2023, "Extracting
training data from diffusion models", sec. 5).

A generated image x^ counts as a copy of its nearest training image x_1 when it
is much closer to it than to the rest of its neighbourhood:

    l(x^) = ||x^ - x_1||_2 / (alpha * mean_{k <= K} ||x^ - x_k||_2) < delta,

with x_1..x_K its K nearest training images in pixel space, alpha = 0.5, K = 50
and delta = 1/3 (Carlini et al.'s CIFAR-10 setting). The ratio is scale-free, so
a sample that merely lies in a dense region (many near neighbours) is not
flagged; a near-copy of one image is. The same rate for held-out real images
against the training set is the reference: what real, unseen data scores.
"""

from __future__ import annotations

import torch

__all__ = ["nearest_neighbour_ratio", "memorisation_rate"]


def nearest_neighbour_ratio(samples: torch.Tensor, train: torch.Tensor, *, k: int = 50, alpha: float = 0.5,
                            batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """For each sample: (ratio l(x^), index of its nearest training image). Images
    are flattened; distances are Euclidean in float32."""
    if samples.shape[1:] != train.shape[1:]:
        raise ValueError(f"samples {tuple(samples.shape[1:])} and training images {tuple(train.shape[1:])} differ in shape")
    k = min(k, len(train))
    a = samples.reshape(len(samples), -1).float()
    b = train.reshape(len(train), -1).float()
    ratios, nearest = [], []
    for start in range(0, len(a), batch_size):
        d = torch.cdist(a[start:start + batch_size], b)
        dk, ik = d.topk(k, dim=1, largest=False)
        ratios.append(dk[:, 0] / (alpha * dk.mean(dim=1)).clamp_min(1e-12))
        nearest.append(ik[:, 0])
    return torch.cat(ratios), torch.cat(nearest)


def memorisation_rate(samples: torch.Tensor, train: torch.Tensor, *, delta: float = 1 / 3, **kwargs) -> float:
    """Fraction of ``samples`` whose nearest-neighbour ratio is below ``delta``."""
    ratios, _ = nearest_neighbour_ratio(samples, train, **kwargs)
    return float((ratios < delta).float().mean())

"""Frechet distance between Gaussians fitted to feature sets (Heusel et al. 2017, eq. 6).

    d^2((m1, C1), (m2, C2)) = |m1 - m2|^2 + tr(C1 + C2 - 2 (C1^{1/2} C2 C1^{1/2})^{1/2})

the 2-Wasserstein distance between N(m1, C1) and N(m2, C2) (Dowson & Landau 1982).
FID is this distance in the pool features of an Inception network; difflab's ``eval``
reports it in the feature space of a small classifier trained on the model's own
data (:mod:`difflab.metrics.classifier`) and, when installed, Inception's.

The trace term uses tr((C1^{1/2} C2 C1^{1/2})^{1/2}) = tr((C1 C2)^{1/2}), computed
from the eigenvalues of the symmetric matrix C1^{1/2} C2 C1^{1/2} in float64: no
complex round-off as with a general matrix square root.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_stats", "frechet_distance", "frechet_from_stats"]


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of ``features`` (N, D), N >= 2, in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_from_stats(mu1, c1, mu2, c2) -> float:
    """Squared Frechet distance between N(mu1, c1) and N(mu2, c2) (the FID formula)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    c1, c2 = np.asarray(c1, np.float64), np.asarray(c2, np.float64)
    if mu1.shape != mu2.shape or c1.shape != c2.shape or c1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: means {mu1.shape} and {mu2.shape}, covariances {c1.shape} and {c2.shape}")
    s1 = _sqrt_psd(c1)
    middle = s1 @ c2 @ s1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * cross)


def frechet_distance(features_a, features_b) -> float:
    """Squared Frechet distance between Gaussians fitted to two feature sets (N, D)."""
    return frechet_from_stats(*gaussian_stats(features_a), *gaussian_stats(features_b))

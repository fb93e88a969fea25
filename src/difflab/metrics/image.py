"""Full-reference image metrics: PSNR and SSIM (Wang, Bovik, Sheikh & Simoncelli 2004)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["psnr", "ssim"]


def _pair(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = (x.detach().cpu().double() if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x, dtype=np.float64))
            for x in (a, b))
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def psnr(a, b, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio 10 log10(MAX^2 / MSE) in dB over all pixels and channels
    (inf for identical images). ``a``, ``b``: arrays of one shape, values in [0, data_range]."""
    a, b = _pair(a, b)
    mse = float((a - b).square().mean())
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    w = torch.exp(-r.square() / (2 * sigma**2))
    return w / w.sum()


def ssim(a, b, data_range: float = 255.0, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> float:
    """Structural similarity, Wang, Bovik, Sheikh & Simoncelli 2004, eq. 13:

        SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),

    C1 = (K1 L)^2, C2 = (K2 L)^2, with local means, variances and covariance under a
    ``window`` x ``window`` Gaussian of std ``sigma`` (sec. III-C), at every position
    where the window fits, averaged (the mean SSIM, eq. 17) over positions and channels.
    ``a``, ``b``: (H, W) or (H, W, C) arrays of one shape; 1.0 for identical images.
    """
    a, b = _pair(a, b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if a.ndim != 3 or min(a.shape[:2]) < window:
        raise ValueError(f"ssim needs (H, W) or (H, W, C) images of at least {window}x{window}, got {tuple(a.shape)}")
    x, y = a.permute(2, 0, 1)[:, None], b.permute(2, 0, 1)[:, None]  # (C, 1, H, W)
    g = _gaussian_window(window, sigma)

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable, "valid" positions only
        return F.conv2d(F.conv2d(t, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x.square()
    var_y = blur(y * y) - mu_y.square()
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return float(s.mean())

"""Pixels of a shapes-world image as the judges read them: the opponent colour vector (zero
on grays, linear in RGB, its angle the hue), the palette's hues, the background from the
outermost ring of pixels, and the accepted image types."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.shapes import BACKGROUNDS, COLOURS


def opponent(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (..., 2) opponent vector; zero on grays, linear, angle = hue."""
    r, g, b = np.moveaxis(np.asarray(rgb, dtype=np.float64), -1, 0)
    return np.stack([(2 * r - g - b) / 2, math.sqrt(3) * (g - b) / 2], -1)


def angle(v: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360


PALETTE = list(COLOURS)
PALETTE_HUES = angle(opponent(np.array([COLOURS[c] for c in PALETTE])))


def nearest_colour(hue: np.ndarray) -> np.ndarray:
    """Index into the palette of the nearest hue (degrees, circular)."""
    d = np.abs((np.asarray(hue)[..., None] - PALETTE_HUES + 180) % 360 - 180)
    return d.argmin(-1)


def background(img: np.ndarray) -> tuple[np.ndarray, str]:
    """Median RGB of the outermost pixel ring and the nearest background name."""
    ring = np.concatenate([img[0], img[-1], img[1:-1, 0], img[1:-1, -1]]).astype(np.float64)
    rgb = np.median(ring, axis=0)
    name = min(BACKGROUNDS, key=lambda n: float(np.sum((rgb - BACKGROUNDS[n]) ** 2)))
    return rgb, name


def as_uint8(image) -> np.ndarray:
    """An RGB image as uint8 (H, W, 3): from a uint8 array (H, W, 3) or a tensor (3, H, W) in [-1, 1]."""
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"image tensor must be (3, H, W) in [-1, 1], got shape {tuple(image.shape)}")
        pixels = ((image.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        image = pixels.permute(1, 2, 0).numpy()
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image array must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if image.shape[0] != image.shape[1]:
        raise ValueError(f"the shapes judge needs a square image, got {image.shape[0]}x{image.shape[1]}")
    return image

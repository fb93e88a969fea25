"""Pixel coverage of an object: the mean of ``supersample``^2 point samples per pixel (a box
filter over a supersampled image), optionally of a pattern inside the object."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .world import Obj, TRIANGLE_HEIGHT

#: a pattern: boolean of unit coordinates (x, y), broadcast
Pattern = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _inside(obj: Obj, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean: points (x, y) (unit coordinates, broadcast) inside the object."""
    half = obj.extent / 2
    if obj.shape == "circle":
        return (x - obj.cx) ** 2 + (y - obj.cy) ** 2 <= half**2
    if obj.shape == "square":
        return (np.abs(x - obj.cx) <= half) & (np.abs(y - obj.cy) <= half)
    h = obj.extent * TRIANGLE_HEIGHT
    t = (y - (obj.cy - 2 * h / 3)) / h  # 0 at the apex, 1 at the base
    return (t >= 0) & (t <= 1) & (np.abs(x - obj.cx) <= t * half)


def coverage(obj: Obj, size: int, supersample: int = 4, pattern: Pattern | None = None) -> np.ndarray:
    """(size, size) fraction of each pixel covered by ``obj`` (and, when given, by
    ``pattern`` inside it): the mean of ``supersample``^2 point samples per pixel (a box
    filter), computed only over the pixels the object's bounding box touches."""
    x0, y0, x1, y1 = obj.bbox()
    c0, r0 = max(0, math.floor(x0 * size)), max(0, math.floor(y0 * size))
    c1, r1 = min(size, math.ceil(x1 * size)), min(size, math.ceil(y1 * size))
    f = supersample
    xs = (np.arange(c0 * f, c1 * f) + 0.5) / (f * size)
    ys = (np.arange(r0 * f, r1 * f) + 0.5) / (f * size)
    cover = np.zeros((size, size))
    if r1 > r0 and c1 > c0:
        inside = _inside(obj, xs[None, :], ys[:, None])
        if pattern is not None:
            inside = inside & pattern(xs[None, :], ys[:, None])
        cover[r0:r1, c0:c1] = inside.reshape(r1 - r0, f, c1 - c0, f).mean(axis=(1, 3))
    return cover

"""Rendering scenes to pixels: coverage by 4 x 4 point samples per pixel (a box filter
over a supersampled image), batches and the training stream."""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from .scenes import make_scene
from .world import BACKGROUNDS, COLOURS, Obj, Scene, ShapesBatch, TRAIN_SEED, TRIANGLE_HEIGHT


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


def coverage(obj: Obj, size: int, supersample: int = 4) -> np.ndarray:
    """(size, size) fraction of each pixel covered by ``obj``: the mean of
    ``supersample``^2 point samples per pixel (a box filter), computed only over the
    pixels its bounding box touches."""
    x0, y0, x1, y1 = obj.bbox()
    c0, r0 = max(0, math.floor(x0 * size)), max(0, math.floor(y0 * size))
    c1, r1 = min(size, math.ceil(x1 * size)), min(size, math.ceil(y1 * size))
    f = supersample
    xs = (np.arange(c0 * f, c1 * f) + 0.5) / (f * size)
    ys = (np.arange(r0 * f, r1 * f) + 0.5) / (f * size)
    cover = np.zeros((size, size))
    if r1 > r0 and c1 > c0:
        inside = _inside(obj, xs[None, :], ys[:, None])
        cover[r0:r1, c0:c1] = inside.reshape(r1 - r0, f, c1 - c0, f).mean(axis=(1, 3))
    return cover


def render(scene: Scene, size: int = 64, supersample: int = 4) -> np.ndarray:
    """The scene as a (size, size, 3) uint8 RGB array, anti-aliased: each object's
    pixel coverage blends its colour over the background."""
    if size < 1 or supersample < 1:
        raise ValueError(f"size and supersample must be positive, got {size} and {supersample}")
    image = np.empty((size, size, 3))
    image[:] = BACKGROUNDS[scene.background]
    for obj in scene.objects:
        cover = coverage(obj, size, supersample)[..., None]
        image += cover * (np.asarray(COLOURS[obj.colour], float) - image)
    return np.rint(image).astype(np.uint8)


def render_batch(n: int, seed: int = TRAIN_SEED, size: int = 64, start: int = 0) -> tuple[np.ndarray, list[Scene]]:
    """Scenes ``start .. start + n - 1`` of stream ``seed``: (n, size, size, 3) uint8 and the scenes."""
    scenes = [make_scene(seed, i) for i in range(start, start + n)]
    images = np.stack([render(s, size) for s in scenes]) if scenes else np.zeros((0, size, size, 3), np.uint8)
    return images, scenes


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [-1, 1]."""
    return (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1).contiguous()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """The inverse of :func:`to_tensor`: images (N, 3, H, W) in [-1, 1] as uint8 (N, H, W, 3),
    rounded to the nearest level and clipped."""
    return ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def shapes_batch(n: int, seed: int = TRAIN_SEED, size: int = 64, start: int = 0) -> ShapesBatch:
    """Scenes ``start .. start + n - 1`` of stream ``seed`` as model-ready tensors."""
    images, scenes = render_batch(n, seed, size, start)
    return ShapesBatch(to_tensor(images), [s.caption for s in scenes], scenes)


class ShapesStream:
    """An endless stream of :class:`ShapesBatch` of ``batch_size`` scenes from ``start``
    on; ``stream.scene(i)`` is scene i of the same seed."""

    def __init__(self, seed: int = TRAIN_SEED, size: int = 64, batch_size: int = 64, start: int = 0):
        self.seed, self.size, self.batch_size, self.start = seed, size, batch_size, start

    def scene(self, index: int) -> Scene:
        return make_scene(self.seed, index)

    def __iter__(self) -> Iterator[ShapesBatch]:
        start = self.start
        while True:
            yield shapes_batch(self.batch_size, self.seed, self.size, start)
            start += self.batch_size

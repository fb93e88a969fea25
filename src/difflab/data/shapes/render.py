"""Rendering scenes to pixels: coverage by 4 x 4 point samples per pixel (a box filter
over a supersampled image), batches and the training stream."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from .scenes import make_scene
from .coverage import coverage  # noqa: F401  (re-exported)
from .styles import paint
from .world import Scene, ShapesBatch, TRAIN_SEED


def render(scene: Scene, size: int = 64, supersample: int = 4) -> np.ndarray:
    """The scene as a (size, size, 3) uint8 RGB array in its rendering style, anti-aliased: each
    object's pixel coverage blends its colour over the background (:func:`~.styles.paint`)."""
    if size < 1 or supersample < 1:
        raise ValueError(f"size and supersample must be positive, got {size} and {supersample}")
    return np.rint(paint(scene, size, supersample)).astype(np.uint8)


def render_batch(n: int, seed: int = TRAIN_SEED, size: int = 64, start: int = 0,
                 styles: Sequence[str] | None = None) -> tuple[np.ndarray, list[Scene]]:
    """Scenes ``start .. start + n - 1`` of stream ``seed`` (with rendering ``styles``, see
    :func:`make_scene`): (n, size, size, 3) uint8 and the scenes."""
    scenes = [make_scene(seed, i, styles) for i in range(start, start + n)]
    images = np.stack([render(s, size) for s in scenes]) if scenes else np.zeros((0, size, size, 3), np.uint8)
    return images, scenes


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [-1, 1]."""
    return (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1).contiguous()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """The inverse of :func:`to_tensor`: images (N, 3, H, W) in [-1, 1] as uint8 (N, H, W, 3),
    rounded to the nearest level and clipped."""
    return ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def shapes_batch(n: int, seed: int = TRAIN_SEED, size: int = 64, start: int = 0,
                 styles: Sequence[str] | None = None) -> ShapesBatch:
    """Scenes ``start .. start + n - 1`` of stream ``seed`` (with rendering ``styles``) as model-ready tensors."""
    images, scenes = render_batch(n, seed, size, start, styles)
    return ShapesBatch(to_tensor(images), [s.caption for s in scenes], scenes)


class ShapesStream:
    """An endless stream of :class:`ShapesBatch` of ``batch_size`` scenes from ``start``
    on (with rendering ``styles``, see :func:`make_scene`); ``stream.scene(i)`` is scene i of
    the same seed."""

    def __init__(self, seed: int = TRAIN_SEED, size: int = 64, batch_size: int = 64, start: int = 0,
                 styles: Sequence[str] | None = None):
        self.seed, self.size, self.batch_size, self.start, self.styles = seed, size, batch_size, start, styles

    def scene(self, index: int) -> Scene:
        return make_scene(self.seed, index, self.styles)

    def __iter__(self) -> Iterator[ShapesBatch]:
        start = self.start
        while True:
            yield shapes_batch(self.batch_size, self.seed, self.size, start, self.styles)
            start += self.batch_size

"""Super-resolution on images: the shipped x4 model (or any super-resolution model
folder) applied to an image file, PIL image or array of any size within the ``pixels``
limit. The method (SR3 with noise-conditioning augmentation, residual target, tiles) is
:mod:`difflab.tasks.superres`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import Pipeline
from ..tasks.superres import (DEFAULT_OVERLAP, DEFAULT_STEPS, DEFAULT_TEMPERATURE, DEFAULT_TILE, SuperResolver,
                              check_scale, superresolve, to_tensor, to_uint8, upsample)

__all__ = ["SuperResolutionPipeline", "load_superres", "shipped_model_path", "resolver", "upscale", "bicubic",
           "SHIPPED"]

#: the super-resolution model shipped inside the package (``difflab/assets/sr-x4``)
SHIPPED = "sr-x4"


def _image(image) -> np.ndarray:
    from ..masks import load_image

    return load_image(image, mode="RGB")


def bicubic(image, scale: int = 4) -> np.ndarray:
    """The baseline: ``image`` (a path, PIL image or uint8 array) bicubic-upsampled by ``scale``, uint8 (H, W, 3)."""
    return to_uint8(upsample(to_tensor(_image(image)), scale))


def shipped_model_path() -> Path:
    """The folder of the x4 model shipped with difflab (``difflab/assets/sr-x4``)."""
    from ..io.folders import shipped_asset

    return shipped_asset(SHIPPED)


def load_superres(folder=None) -> SuperResolver:
    """Load a super-resolution model folder (None: the shipped x4 model)."""
    return SuperResolutionPipeline.load(folder).resolver


class SuperResolutionPipeline(Pipeline):
    """A super-resolution model folder as a pipeline: ``pipe(image)`` upscales an image of
    any size (in tiles, :func:`~difflab.tasks.superres.superresolve`); ``load``, ``save``,
    ``to`` as the other pipelines. ``config`` is the folder's whole config."""

    def __init__(self, denoiser, config: dict) -> None:
        if config.get("task") != "superres" or "superres" not in config:
            raise ValueError(f"not a super-resolution model (its task is {config.get('task')!r})")
        self.config = config
        self.resolver = SuperResolver(denoiser, config["superres"])

    @property
    def denoiser(self):
        return self.resolver.denoiser

    @property
    def scale(self) -> int:
        return self.resolver.scale

    @classmethod
    def load(cls, folder=None, device="cpu", ema: bool = True) -> "SuperResolutionPipeline":
        """The model folder ``folder`` (None: the shipped x4 model), on ``device``."""
        from ..io.folders import load_model

        folder = shipped_model_path() if folder is None else Path(folder)
        denoiser, config = load_model(folder, ema=ema, device=device)
        if config.get("task") != "superres" or "superres" not in config:
            raise ValueError(f"{folder}: not a super-resolution model (its task is {config.get('task')!r})")
        denoiser.net.float()  # float16 on disk, float32 to compute
        return cls(denoiser, config)

    @classmethod
    def shipped(cls, device="cpu") -> "SuperResolutionPipeline":
        """The x4 model shipped inside the package (:func:`shipped_model_path`)."""
        return cls.load(None, device=device)

    def save(self, folder, *, dtype=None) -> Path:
        """Write the model folder (``dtype``, e.g. ``torch.float16``, stores the weights in
        that precision; loading casts them back to float32)."""
        from ..io.folders import MODEL_KEYS, save_model

        return save_model(folder, self.denoiser, {k: v for k, v in self.config.items() if k not in MODEL_KEYS},
                          dtype=dtype)

    def __call__(self, image, **sampling) -> np.ndarray:
        """:func:`upscale` ``image`` by this model's scale; ``sampling``: ``steps``,
        ``sampler``, ``seed``, ``aug_level``, ``temperature``, ``tile``, ``overlap``, sampler
        options. Returns uint8 (scale H, scale W, 3)."""
        return upscale(self.resolver, image, self.scale, **sampling)

    def __repr__(self) -> str:
        return f"SuperResolutionPipeline(scale={self.scale}, denoiser={self.denoiser!r})"


def resolver(model) -> SuperResolver:
    """``model`` as a :class:`~difflab.tasks.superres.SuperResolver`: itself, a model folder, or None (the shipped model)."""
    if isinstance(model, SuperResolver):
        return model
    if model is None or isinstance(model, (str, os.PathLike)):
        return load_superres(model)
    raise TypeError(f"model must be a SuperResolver, a model folder or None, got {type(model).__name__}")


def upscale(model, image, scale: int = 4, *, steps: int = DEFAULT_STEPS, sampler: str = "ddim", seed: int = 0,
            aug_level: float | None = None, temperature: float = DEFAULT_TEMPERATURE, tile: int = DEFAULT_TILE,
            overlap: int = DEFAULT_OVERLAP, **options) -> np.ndarray:
    """Upscale ``image`` (a path, PIL image or uint8 array; any size within the ``pixels``
    limit, a file's checked from its header) by ``scale`` with ``model`` (a
    :class:`SuperResolver`, a model folder, or None for the shipped x4 model), in tiles
    of ``tile`` input pixels (:func:`superresolve`). Deterministic DDIM by default: the
    same seed gives the same pixels. Returns uint8 (scale H, scale W, 3)."""
    m = resolver(model)
    scale = check_scale(scale)
    if scale != m.scale:
        raise ValueError(f"this model upscales by {m.scale}, not {scale}")
    y = to_tensor(_image(image))
    return to_uint8(superresolve(m, y, steps=steps, sampler=sampler, seed=seed, aug_level=aug_level,
                                  temperature=temperature, tile=tile, overlap=overlap, **options))

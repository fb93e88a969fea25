"""Small tensor helpers shared by every layer: broadcasting, reproducible noise, a Gaussian blur."""

from __future__ import annotations

from typing import Sequence, Union

import torch

__all__ = ["append_dims", "randn", "generators", "stream_generators", "STREAM_OFFSETS", "GeneratorLike", "gaussian_blur"]

GeneratorLike = Union[None, int, torch.Generator, Sequence[torch.Generator]]


def append_dims(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """Append trailing singleton dims to ``v`` until it has ``ndim`` dims, so a
    per-sample (or scalar) coefficient broadcasts over any data shape."""
    v = torch.as_tensor(v)
    missing = ndim - v.ndim
    if missing < 0:
        raise ValueError(f"cannot broadcast a {v.ndim}-d coefficient to {ndim}-d data")
    return v.reshape(*v.shape, *([1] * missing))


def generators(seed: int, n: int) -> list[torch.Generator]:
    """One CPU generator per sample: sample i is seeded ``seed + i``.

    This is what makes a batch of N equal N batches of one: sample i of a
    batch drawn with ``seed`` is sample 0 of a batch drawn with ``seed + i``.
    """
    return [torch.Generator().manual_seed(int(seed) + i) for i in range(n)]


#: the named random streams of a call seeded ``seed``, besides its starting noise (sample i:
#: ``seed + i``): sample i of stream NAME is seeded ``seed + STREAM_OFFSETS[NAME] + i``. Fixed
#: values: changing one changes every output drawn for a seed.
STREAM_OFFSETS = {
    "steps": 1_000_003,  # the noise a stochastic sampler draws at each step (sample, repaint, tiles)
    "replacement": 7_777_777,  # the noised known values of replacement inpainting
    "augmentation": 7_919,  # super-resolution's noise-conditioning augmentation
}


def stream_generators(seed: int, n: int, stream: str) -> list[torch.Generator]:
    """One generator per sample for the named ``stream`` of a call seeded ``seed``
    (:data:`STREAM_OFFSETS`)."""
    return generators(int(seed) + STREAM_OFFSETS[stream], n)


def randn(shape, generator: GeneratorLike = None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Standard normal noise, drawn on the CPU in float32 and then moved.

    ``generator`` may be None (global RNG), an int seed (per-sample
    generators, see :func:`generators`), one ``torch.Generator`` (the whole
    batch from one stream) or a list of generators, one per sample (each
    sample's noise from its own stream, independent of the batch size).
    """
    shape = tuple(int(s) for s in shape)
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = generators(generator, shape[0])
    if isinstance(generator, (list, tuple)):
        if len(generator) != shape[0]:
            raise ValueError(f"got {len(generator)} generators for a batch of {shape[0]}")
        noise = torch.stack([torch.randn(shape[1:], generator=g, dtype=torch.float32) for g in generator])
    else:
        noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    return noise.to(device=device, dtype=dtype)


def gaussian_blur(images: torch.Tensor, std: float, half: int, border: str = "replicate") -> torch.Tensor:
    """(N, C, H, W) blurred by a separable Gaussian of ``std`` pixels truncated ``half`` pixels either
    side (normalised), each channel on its own; the border extended by ``border``, a padding mode of
    :func:`torch.nn.functional.pad` ("replicate", "reflect", "constant")."""
    k = torch.exp(-0.5 * (torch.arange(-half, half + 1, dtype=torch.float64) / std) ** 2)
    k = (k / k.sum()).to(images)
    n, c, h, w = images.shape
    x = images.reshape(n * c, 1, h, w)
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (half, half, 0, 0), mode=border), k.reshape(1, 1, 1, -1))
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 0, half, half), mode=border), k.reshape(1, 1, -1, 1))
    return x.reshape(n, c, h, w)

"""The held-out evaluation of super-resolution: PSNR and SSIM of the model and of bicubic
upsampling on photographs the model never saw (``difflab upscale-eval``).

Metrics. PSNR = 10 log10(MAX^2 / MSE); SSIM is Wang et al. 2004 (eq. 13) with an
11 x 11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, the local statistics taken
where the window fits inside the image, averaged over pixels and channels (the settings
of ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, channel_axis=-1)``); both in :mod:`difflab.metrics.image`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..metrics.image import psnr, ssim
from ..pipelines.superres import bicubic, resolver, upscale
from ..tasks.superres import (DEFAULT_STEPS, DEFAULT_TEMPERATURE, check_scale, downscale, quantize_8bit, to_tensor,
                              to_uint8)

__all__ = ["evaluate_superres", "format_table", "side_by_side", "EVAL_CROP"]

#: side of the centre crop of each held-out photo that :func:`evaluate_superres` uses
EVAL_CROP = 256


def _center_crop(image: np.ndarray, size: int | None, scale: int) -> np.ndarray:
    h, w = image.shape[:2]
    if size is not None:
        if min(h, w) < size:
            raise ValueError(f"crop {size} is larger than the {h}x{w} photo")
        top, left = (h - size) // 2, (w - size) // 2
        return image[top:top + size, left:left + size]
    return image[: h - h % scale, : w - w % scale]


def evaluate_superres(model=None, photos=None, scale: int = 4, *, crop: int | None = EVAL_CROP,
                      steps: int = DEFAULT_STEPS, sampler: str = "ddim", seed: int = 0,
                      aug_level: float | None = None, temperature: float = DEFAULT_TEMPERATURE,
                      return_images: bool = False, **options) -> dict:
    """PSNR and SSIM of the model and of bicubic upsampling on held-out photographs.

    For each photo (default :data:`difflab.data.photos.HELD_OUT_PHOTOS`): x = its centre
    ``crop`` x ``crop`` pixels (None: the whole photo cut to a multiple of ``scale``),
    y = Q(D_s(x)) the 8-bit antialiased-bicubic downscale (:func:`downscale`), then
    both :func:`bicubic` and the model upscale y and are compared with x.

    Returns ``{"photos": {name: {"psnr_model", "psnr_bicubic", "ssim_model",
    "ssim_bicubic"}}, "mean": {...}, "settings": {...}}`` and, with ``return_images``,
    ``"images": {name: (low, bicubic, model, original)}`` as uint8 arrays.
    """
    from ..data.photos import HELD_OUT_PHOTOS, load_photo

    m = resolver(model)
    scale = check_scale(scale)
    if scale != m.scale:
        raise ValueError(f"this model upscales by {m.scale}, not {scale}")
    photos = HELD_OUT_PHOTOS if photos is None else tuple(photos)
    if crop is not None and crop % scale:
        raise ValueError(f"crop {crop} must be divisible by scale {scale}")
    rows, images = {}, {}
    for name in photos:
        original = np.ascontiguousarray(_center_crop(load_photo(name), crop, scale))
        low = to_uint8(quantize_8bit(downscale(to_tensor(original), scale)))
        base = bicubic(low, scale)
        out = upscale(m, low, scale, steps=steps, sampler=sampler, seed=seed, aug_level=aug_level,
                      temperature=temperature, **options)
        rows[name] = {"psnr_model": psnr(out, original), "psnr_bicubic": psnr(base, original),
                      "ssim_model": ssim(out, original), "ssim_bicubic": ssim(base, original)}
        images[name] = (low, base, out, original)
    keys = ("psnr_model", "psnr_bicubic", "ssim_model", "ssim_bicubic")
    result = {
        "photos": rows,
        "mean": {k: float(np.mean([r[k] for r in rows.values()])) for k in keys},
        "settings": {"scale": scale, "crop": crop, "steps": steps, "sampler": sampler, "seed": seed,
                     "temperature": temperature,
                     "aug_level": float(m.config["aug_level"] if aug_level is None else aug_level)},
    }
    if return_images:
        result["images"] = images
    return result


def format_table(result: dict) -> str:
    """A Markdown table of an :func:`evaluate_superres` result."""
    lines = ["| photo | PSNR bicubic (dB) | PSNR SR (dB) | SSIM bicubic | SSIM SR |",
             "|---|---:|---:|---:|---:|"]
    for name, r in [*result["photos"].items(), ("**mean**", result["mean"])]:
        lines.append(f"| {name} | {r['psnr_bicubic']:.2f} | {r['psnr_model']:.2f} | "
                     f"{r['ssim_bicubic']:.4f} | {r['ssim_model']:.4f} |")
    return "\n".join(lines)


def side_by_side(images: dict, path, gap: int = 4) -> Path:
    """Write a PNG with one row per photo: low-resolution input (nearest-neighbour
    upsampled) | bicubic | super-resolved | original, from
    ``evaluate_superres(..., return_images=True)["images"]``."""
    from PIL import Image

    from ..io.atomic import atomic_path

    rows = []
    for low, base, out, original in images.values():
        s = original.shape[0] // low.shape[0]
        nearest = np.repeat(np.repeat(low, s, axis=0), s, axis=1)
        tiles = [nearest, base, out, original]
        h = original.shape[0]
        sep = np.full((h, gap, 3), 255, np.uint8)
        row = np.concatenate([t for tile in tiles for t in (tile, sep)][:-1], axis=1)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    blocks = []
    for r in rows:
        pad = np.full((r.shape[0], width - r.shape[1], 3), 255, np.uint8)
        blocks += [np.concatenate([r, pad], axis=1), np.full((gap, width, 3), 255, np.uint8)]
    grid = np.concatenate(blocks[:-1], axis=0)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")
    return path

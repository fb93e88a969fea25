"""Image editing on any model: the image-level side of inpainting and image-to-image.

The methods work on tensors in the model's space (:mod:`difflab.tasks.inpaint`,
:mod:`difflab.tasks.img2img`); here an image (a path, PIL image or uint8 array) and a
mask image are read and checked (:mod:`difflab.masks`), mapped into the model's space by
an ``encode`` / ``decode`` pair (the [-1, 1] data range of a pixel model, or a latent
model's autoencoder), edited, decoded to 8-bit pixels, and for inpainting the kept
pixels pasted back to the bit. Every pipeline's ``inpaint`` and ``img2img`` call these.
"""

from __future__ import annotations

import numpy as np

from ..masks import (EditResult, check_feather, codec, decode_image, encode_image, latent_mask, load_image, load_mask,
                     paste_back, positive_int, to_pixels)
from ..samplers import sample
from ..tasks.img2img import img2img, steps_to_run
from ..tasks.inpaint import METHODS, Inpainter, repaint
from ..tensors import GeneratorLike

__all__ = ["inpaint_image", "img2img_image"]


def inpaint_image(
    denoiser,
    image,
    mask,
    *,
    method: str = "repaint",
    steps: int = 50,
    n: int = 1,
    sampler: str = "ddpm",
    jump_length: int = 10,
    jump_n_sample: int = 10,
    spacing: str | None = None,
    generator: GeneratorLike = None,
    cond: dict | None = None,
    encode=None,
    decode=None,
    mode: str | None = None,
    size=None,
    feather: float = 0.0,
    **options,
) -> EditResult:
    """Regenerate the white part of ``mask`` in ``image``; keep the rest to the bit.

    Args:
        denoiser: the model (pixel-space, or latent with ``encode`` / ``decode``); wrap it
            in :class:`~difflab.guidance.ClassifierFreeGuidance` for guided fills.
        image: a path, PIL image or uint8 array (H, W) / (H, W, C)
            (:func:`difflab.masks.load_image`; ``mode`` "L" / "RGB" converts).
        size: the size the model works at ((H, W), an int, or a data shape (C, H, W)):
            an image of another size is refused, a file's from its header before it is
            decoded. A pixel-space network runs on any size but learned only one: pass
            its ``config["data"]["shape"]``.
        mask: a path, PIL image, array or tensor of the image's size; white (255, or 1 /
            True) = regenerate, black = keep, grey thresholded at half
            (:func:`difflab.masks.check_mask`).
        method: ``"repaint"`` (:func:`repaint`, with ``jump_length``, ``jump_n_sample``,
            ``sampler`` the reverse step) or ``"replace"`` (:class:`Inpainter` around
            ``sampler``, no resampling).
        steps, spacing: the grid (:func:`difflab.grids.make_grid`).
        n: how many completions (sample i uses seed ``generator + i``).
        cond: conditioning for the network, batched to ``n`` (e.g. text context).
        encode, decode: pixels (N, C, H, W) in [0, 1] -> model space and back; default the
            [-1, 1] data range (:func:`difflab.masks.pixel_codec` builds them from a model
            config). A latent of another size gets the mask max-pooled to it
            (:func:`difflab.masks.latent_mask`).
        feather: seam blur radius in pixels, inside the regenerated region only
            (:func:`difflab.masks.feather_weights`), at most the image's larger side
            (checked before sampling); the kept pixels stay bit-exact.
        **options: the sampler's options (``variance``, ``eta`` ...).

    Returns:
        an :class:`~difflab.masks.EditResult`: uint8 images (n, H, W, C) and ``info``
        (method, steps, nfe, ...).
    """
    if method not in METHODS:
        raise ValueError(f"unknown inpainting method {method!r}; expected one of: {', '.join(METHODS)}")
    encode, decode = codec(encode, decode)
    pixels = load_image(image, mode, size)
    m = load_mask(mask, pixels.shape[:2])
    feather = check_feather(feather, pixels.shape[:2])
    if not m.any():
        raise ValueError("mask is all black (0 = keep): nothing to regenerate; white (255) marks the region to regenerate")
    z = encode_image(encode, pixels, n)
    zm = (latent_mask(m, z.shape) if z.shape[-2:] != m.shape[-2:] else m).to(z).expand_as(z)
    if method == "repaint":
        x, info = repaint(denoiser, z, zm, steps, jump_length=jump_length, jump_n_sample=jump_n_sample,
                          sampler=sampler, spacing=spacing, generator=generator, cond=cond, return_info=True, **options)
    else:
        model = Inpainter(denoiser, z, zm, generator=generator)
        x, info = sample(model, z.shape, sampler, steps, generator=generator, spacing=spacing, cond=cond,
                         return_info=True, **options)
    images = paste_back(decode_image(decode, x, pixels), pixels, m, feather)
    details = {"method": method, "sampler": sampler, "steps": len(info.sigmas) - 1, "nfe": info.nfe,
               "regenerated_fraction": float(m.mean())}
    if method == "repaint":
        details.update(jump_length=jump_length, jump_n_sample=jump_n_sample)
    return EditResult(images, details)


def img2img_image(
    denoiser,
    image,
    strength: float,
    *,
    sampler: str = "ddpm",
    steps: int = 50,
    n: int = 1,
    spacing: str | None = None,
    generator: GeneratorLike = None,
    cond: dict | None = None,
    encode=None,
    decode=None,
    mode: str | None = None,
    size=None,
    **options,
) -> EditResult:
    """SDEdit an image: a path, PIL image or uint8 array (H, W) / (H, W, C).

    ``encode`` / ``decode`` map pixels (N, C, H, W) in [0, 1] to the model's space and
    back (a latent model's autoencoder; default the [-1, 1] data range, see
    :func:`difflab.masks.pixel_codec`). ``n`` edits (sample i uses seed ``generator + i``);
    ``cond`` is batched to ``n``. Strength 0 returns the input pixels exactly, without
    calling ``encode``, the network or ``decode``. ``size`` ((H, W), an int, or a data
    shape (C, H, W)) is the size the model works at: an image of another size is
    refused, a file's from its header before it is decoded. A pixel-space network runs
    on any size but learned only one: pass its ``config["data"]["shape"]``.

    Returns:
        an :class:`~difflab.masks.EditResult`: uint8 images (n, H, W, C) and ``info``
        (sampler, strength, steps run, nfe).
    """
    encode, decode = codec(encode, decode)
    pixels = load_image(image, mode, size)
    n = positive_int("n", n)
    details = {"sampler": sampler, "strength": float(strength), "steps": steps_to_run(strength, positive_int("steps", steps)),
               "nfe": 0}
    if details["steps"] == 0:
        return EditResult(np.repeat(pixels[None], n, axis=0), details)
    z = encode_image(encode, pixels, n)
    x, info = img2img(denoiser, z, strength, sampler, steps, generator=generator, spacing=spacing, cond=cond,
                      return_info=True, **options)
    details["nfe"] = info.nfe
    return EditResult(to_pixels(decode_image(decode, x, pixels)), details)

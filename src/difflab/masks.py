"""Masks and pixels at the edges of image editing (inpainting, image-to-image).

One mask convention everywhere: **white = regenerate**. A mask image holds 255
(white) where the model paints and 0 (black) where the input image is kept; inside
the library a mask is a float tensor of 0 (keep) and 1 (regenerate).

What a mask may be (:func:`check_mask`), and what it may not:

- a PIL image or a file: mode ``1`` or ``L`` (8-bit grayscale), or 16-bit grayscale
  (65535 = white; reduced to 8 bits as images are, below); ``RGB`` / ``RGBA`` only
  when its three colour channels agree (a grey image saved as RGB) and any alpha is
  fully opaque. A coloured or partly transparent mask is refused: which colour would
  mean "regenerate"?
- a numpy array or torch tensor of shape (H, W), (H, W, 1) or (1, H, W), read by dtype:
  ``bool`` (True = regenerate), an integer type in 0..255 (255 = white), a float type
  in [0, 1] (1 = white). An integer mask that holds only 0 and 1 is refused (255 is
  white; pass bool or float for a 0/1 mask), as are NaN and values outside the range.
- anti-aliased grey (the soft edge a brush leaves) is thresholded at half:
  a pixel is regenerated iff its value is >= 0.5 (>= 128 of 255). Use ``feather`` in
  :func:`paste_back` for a soft seam instead.
- its height and width must equal the image's: a mask is never resized silently.

Images enter as a path, a PIL image or a uint8 numpy array (H, W) / (H, W, C) and
leave as uint8 arrays (N, H, W, C) (:class:`EditResult`). Between the two they are
float tensors (N, C, H, W) of pixels in [0, 1]; ``encode`` / ``decode`` callables map
those pixels to the model's space and back (:func:`pixel_codec` for a pixel-space
model, an autoencoder's for a latent one).

A file is decoded only after its header passed two checks: its pixel count against
the ``pixels`` limit (:func:`difflab.limits.check_pixels`) and, where the size it must
have is known (the model's, or the image's for a mask), its height and width.
16-bit grayscale pixels v (PNG, TIFF: Pillow modes ``I;16*``, or ``I`` holding
0..65535) become round(v / 257), the nearest of the 256 levels (257 k -> k,
65535 -> 255); 16-bit colour PNGs are reduced by Pillow itself, to the high byte
v >> 8 (the same value for 257 k, at most one level from round(v / 257) otherwise).
Float images (mode ``F``) are refused: their range is not in the file.

After decoding, the kept pixels are pasted back from the input to the bit
(:func:`paste_back`): a latent model's decoder changes every pixel, and even a
pixel-space model rounds.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .limits import check_pixels
from .tensors import gaussian_blur

__all__ = [
    "check_mask",
    "load_mask",
    "latent_mask",
    "check_feather",
    "feather_weights",
    "paste_back",
    "load_image",
    "to_pixels",
    "from_pixels",
    "pixel_codec",
    "codec",
    "encode_image",
    "decode_image",
    "positive_int",
    "EditResult",
]

_GRAY_MODES = ("1", "L")


def _size_hw(size) -> tuple[int, int]:
    """(H, W) from an int (square), (H, W), or an image shape (C, H, W) / (N, C, H, W)."""
    if isinstance(size, int):
        return size, size
    size = tuple(int(s) for s in size)
    if len(size) == 2:
        return size
    if len(size) in (3, 4):  # (C, H, W) or (N, C, H, W)
        return size[-2], size[-1]
    raise ValueError(f"image size must be an int, (H, W), (C, H, W) or (N, C, H, W); got {size}")


def _eight_bit(im, what: str):
    """``im`` with 16-bit grayscale pixels (modes ``I;16``, ``I;16B`` ..., or ``I`` holding
    0..65535) reduced to 8 bits (mode ``L``): v -> round(v / 257) = (2 v + 257) // 514, the
    nearest of the 256 levels (no ties: v / 257 is never k + 1/2). Float pixels (mode
    ``F``) are refused; other modes pass unchanged."""
    from PIL import Image

    if im.mode == "F":
        raise ValueError(f"{what} has floating-point pixels (mode F) of unknown range: "
                         "save it as an 8- or 16-bit image")
    if im.mode != "I" and not im.mode.startswith("I;16"):
        return im
    arr = np.asarray(im)
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise ValueError(f"{what} has 32-bit integer pixels {lo}..{hi}, outside the 16-bit range 0..65535: "
                         "save it as an 8- or 16-bit image")
    return Image.fromarray(((arr.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8), mode="L")


def _pil_mask_array(im, what: str = "mask") -> np.ndarray:
    """A PIL mask as an (H, W) array, refusing colour and transparency."""
    im = _eight_bit(im, what)
    if im.mode in _GRAY_MODES:
        return np.asarray(im)
    if im.mode in ("RGB", "RGBA", "LA", "P"):
        im = im.convert("RGBA")
        arr = np.asarray(im)
        if (arr[..., 3] != 255).any():
            raise ValueError("mask has transparent pixels: save it as a grayscale image (white = regenerate, black = keep)")
        rgb = arr[..., :3]
        if not ((rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])).all():
            raise ValueError("mask has differing colour channels: expected a grayscale mask (white = regenerate, black = keep)")
        return rgb[..., 0]
    raise ValueError(f"mask image mode {im.mode!r} is not supported: save it as a grayscale PNG (white = regenerate)")


def _binary(arr: np.ndarray) -> np.ndarray:
    """Threshold a grayscale array (read by dtype, see the module docstring) at half: True = regenerate."""
    if arr.dtype == np.bool_:
        return arr
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0 or hi > 255:
            raise ValueError(f"integer mask values must lie in 0..255 (255 = regenerate), got {lo}..{hi}")
        if hi == 1:
            raise ValueError("integer mask holds only 0 and 1, but 255 (white) marks the region to regenerate: "
                             "pass a bool or float mask for 0/1")
        return arr >= 128
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("mask holds NaN or inf")
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if lo < 0 or hi > 1:
            raise ValueError(f"float mask values must lie in [0, 1] (1 = regenerate), got {lo:.4g}..{hi:.4g}")
        return arr >= 0.5
    raise ValueError(f"mask of dtype {arr.dtype} is not supported: use bool, uint8 (0..255) or float (0..1)")


def check_mask(mask, image_shape) -> torch.Tensor:
    """Check ``mask`` against an image of ``image_shape`` and return it as a float
    tensor (1, 1, H, W) of 0 (keep) and 1 (regenerate).

    ``mask`` is a PIL image, a numpy array or a torch tensor (module docstring for
    what each may hold); ``image_shape`` an int (square), (H, W), (C, H, W) or
    (N, C, H, W). Every refusal is a one-line ValueError.
    """
    height, width = _size_hw(image_shape)
    if hasattr(mask, "mode") and hasattr(mask, "convert"):  # a PIL image
        arr = _pil_mask_array(mask)
    else:
        arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        elif arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        elif arr.ndim == 4 and arr.shape[:2] == (1, 1):
            arr = arr[0, 0]
        if arr.ndim != 2:
            raise ValueError(f"mask must have shape (H, W), (H, W, 1) or (1, H, W); got {arr.shape} "
                             "(a colour mask: convert it to grayscale, white = regenerate)")
    if arr.shape != (height, width):
        raise ValueError(f"mask is {arr.shape[0]}x{arr.shape[1]} (height x width) but the image is {height}x{width}")
    return torch.from_numpy(_binary(arr).astype(np.float32))[None, None]


def _check_size(what: str, height: int, width: int, size, against: str) -> None:
    """A one-line ValueError unless ``height`` x ``width`` is ``size``; ``against`` names the
    size wanted, a format string with ``{}`` for it."""
    h, w = _size_hw(size)
    if (height, width) != (h, w):
        raise ValueError(f"{what} is {height}x{width} (height x width) but " + against.format(f"{h}x{w}"))


def _open_image(path, what: str, size=None, against: str = "the model works at {}: resize it first"):
    """The PIL image in file ``path``, decoded only after its header passed the checks: its
    pixel count against the ``pixels`` limit and, given ``size``, its height and width
    (:func:`_check_size`). Clear errors for a missing, unreadable or oversized file."""
    from PIL import Image

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} file {path!r} does not exist")
    try:
        im = Image.open(path)  # reads the header only
        with im:
            check_pixels(im.height, im.width, f"{what} {path}")
            if size is not None:
                _check_size(f"{what} {path}", im.height, im.width, size, against)
            im.load()
            return im.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own bound (2 x PIL.Image.MAX_IMAGE_PIXELS, checked as it reads the header)
        # is above the default pixels limit: such a file is over both
        raise ValueError(f"{what} {path} is over the pixels limit and Pillow's decompression-bomb bound "
                         f"({e}); raise PIL.Image.MAX_IMAGE_PIXELS as well as --limit pixels") from None
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None


def load_mask(path_or_array, size) -> torch.Tensor:
    """Read a mask file (or take a PIL image / array / tensor) for an image of ``size``
    ((H, W), an int for a square or an image shape) and check it with :func:`check_mask`.
    White (255) = regenerate, black (0) = keep. A file's size is checked from its header,
    before it is decoded."""
    if isinstance(path_or_array, (str, os.PathLike)):
        name = os.fspath(path_or_array)
        path_or_array = _pil_mask_array(_open_image(name, "mask", size, "the image is {}"), f"mask {name}")
    return check_mask(path_or_array, size)


def latent_mask(mask: torch.Tensor, latent_shape) -> torch.Tensor:
    """Downsample a pixel mask (…, H, W) to a latent's (h, w) by max-pooling, so every
    latent cell that touches a pixel to regenerate is regenerated (the latent mask
    covers the region; the decoder's spill-over into kept pixels is undone by
    :func:`paste_back`)."""
    h, w = _size_hw(latent_shape)
    m = mask.reshape(-1, 1, *mask.shape[-2:]).float()
    return F.adaptive_max_pool2d(m, (h, w))


def _gaussian_blur(m: torch.Tensor, radius: float) -> torch.Tensor:
    """Separable Gaussian blur (std radius / 2, support +-ceil(radius)) with replicated borders."""
    return gaussian_blur(m, radius / 2, max(1, math.ceil(radius)), "replicate")


def check_feather(radius: float, size) -> float:
    """``radius`` as a float if it is a feather radius for an image of ``size`` ((H, W), an
    int or an image shape): a number from 0 to the image's larger side. A wider blur has
    no seam to soften: its kernel reaches past the whole image, the replicated borders
    outweigh the mask, and the generated pixels fade out everywhere (their weight tends
    to the mask's value on the border, 0 for an interior hole, as the radius grows).
    Refused rather than clamped, since clamping would change the result silently; the
    bound also bounds the kernel (2 ceil(radius) + 1 taps) by the image."""
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise ValueError(f"feather radius must be a number >= 0, got {radius!r}") from None
    if radius < 0 or not math.isfinite(radius):
        raise ValueError(f"feather radius must be a number >= 0, got {radius}")
    side = max(_size_hw(size))
    if radius > side:
        raise ValueError(f"feather radius {radius:g} is larger than the image's larger side ({side} pixels); "
                         f"use at most {side}")
    return radius


def feather_weights(mask: torch.Tensor, radius: float = 0.0) -> torch.Tensor:
    """The weight of the generated pixels in the final image: ``mask`` itself for
    ``radius`` 0, else ``mask * blur(mask)`` (a Gaussian of std radius / 2). The blur
    acts only inside the regenerated region: kept pixels (mask 0) keep weight 0, and
    generated pixels near the seam fade into the input's pixels under the mask.
    ``radius`` is at most the mask's larger side (:func:`check_feather`)."""
    radius = check_feather(radius, mask.shape[-2:])
    m = mask.reshape(-1, 1, *mask.shape[-2:]).float()
    if radius == 0:
        return m
    return m * _gaussian_blur(m, float(radius)).clamp(0, 1)


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """Float pixels (N, C, H, W) in [0, 1] -> uint8 (N, H, W, C), clipped and rounded."""
    x = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def from_pixels(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) or (N, H, W, C) -> float (N, C, H, W) in [0, 1]; the inverse of :func:`to_pixels`."""
    x = torch.tensor(np.asarray(pixels, dtype=np.uint8))
    x = x[None] if x.ndim == 3 else x
    return x.permute(0, 3, 1, 2).float() / 255


def paste_back(generated: torch.Tensor, original: np.ndarray, mask: torch.Tensor, feather: float = 0.0) -> np.ndarray:
    """The final images: ``original`` (uint8 (H, W, C)) to the bit where ``mask`` is 0,
    the ``generated`` pixels (float (N, C, H, W) in [0, 1]) where it is 1, blended with
    ``original`` near the seam when ``feather`` > 0 (:func:`feather_weights`).
    Returns uint8 (N, H, W, C)."""
    w = feather_weights(mask, feather)  # (1, 1, H, W)
    blended = to_pixels(w * generated.float().clamp(0, 1) + (1 - w) * from_pixels(original))
    keep = (mask.reshape(*mask.shape[-2:]) == 0).numpy()[None, :, :, None]
    return np.where(keep, original[None], blended)


def load_image(image, mode: str | None = None, size=None) -> np.ndarray:
    """An image as uint8 (H, W, C): from a path, a PIL image or a uint8 array (H, W) / (H, W, C).

    ``mode`` ``"L"`` (C = 1) or ``"RGB"`` (C = 3) converts; None keeps a grayscale
    image grayscale and makes anything else RGB (alpha is dropped). ``size`` ((H, W),
    an int or an image shape (C, H, W)) checks the size, from a file's header before
    it is decoded: an image is never resized silently. 16-bit grayscale becomes 8-bit
    (module docstring).
    """
    from PIL import Image

    if mode not in (None, "L", "RGB"):
        raise ValueError(f"mode must be 'L', 'RGB' or None, got {mode!r}")
    what = "image"
    if isinstance(image, (str, os.PathLike)):
        what = f"image {os.fspath(image)}"
        image = _open_image(image, "image", size)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"image array must be uint8, got {image.dtype}: convert with (x * 255).round().astype(np.uint8)")
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
            raise ValueError(f"image array must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {image.shape}")
        image = Image.fromarray(image)
    if not (hasattr(image, "mode") and hasattr(image, "convert")):
        raise TypeError(f"image must be a path, a PIL image or a uint8 numpy array, got {type(image).__name__}")
    image = _eight_bit(image, what)
    target = mode or ("L" if image.mode in ("1", "L", "LA") else "RGB")
    arr = np.asarray(image.convert(target), dtype=np.uint8)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    if size is not None:
        _check_size(what, arr.shape[0], arr.shape[1], size, "the model works at {}: resize it first")
    return np.ascontiguousarray(arr)


def pixel_codec(data_config: dict | None = None) -> tuple[Callable, Callable]:
    """``(encode, decode)`` between pixels in [0, 1] and a pixel-space model's data.

    ``data_config`` is a model config's ``"data"`` entry: pixel value p = lo + u (hi - lo)
    for ``pixel_range`` (lo, hi), and x = (p - shift) / scale for its affine ``transform``.
    None gives the default data range [-1, 1]: x = 2 u - 1. Where the entry has the
    data's ``shape`` (C, H, W), ``encode`` refuses pixels of another shape: a pixel-space
    network runs on any size, but it learned only this one.
    """
    if data_config is None:
        return (lambda u: 2 * u - 1), (lambda x: (x + 1) / 2)
    try:
        lo, hi = (float(v) for v in data_config["pixel_range"])
        transform = data_config["transform"]
        # a scalar, or one value per channel: broadcast over (N, C, H, W)
        shift = torch.as_tensor(transform["shift"], dtype=torch.float32).reshape(-1, 1, 1)
        scale = torch.as_tensor(transform["scale"], dtype=torch.float32).reshape(-1, 1, 1)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"data config needs 'pixel_range' and an affine 'transform' (shift, scale): {e!r}") from None

    shape = data_config.get("shape")
    shape = None if shape is None else tuple(int(v) for v in shape)

    def encode(u: torch.Tensor) -> torch.Tensor:
        if shape is not None and tuple(u.shape[1:]) != shape:
            raise ValueError(f"image of shape {tuple(u.shape[1:])} (C, H, W) but the model works at {shape}: "
                             "resize it first")
        return (lo + u * (hi - lo) - shift.to(u)) / scale.to(u)

    def decode(x: torch.Tensor) -> torch.Tensor:
        return (x * scale.to(x) + shift.to(x) - lo) / (hi - lo)

    return encode, decode


def codec(encode: Callable | None, decode: Callable | None) -> tuple[Callable, Callable]:
    """``(encode, decode)`` as given (a latent model's autoencoder), or the default pixel
    codec of the [-1, 1] data range when both are None."""
    if (encode is None) != (decode is None):
        raise ValueError("pass both encode and decode (a latent model's autoencoder), or neither (pixel space)")
    return pixel_codec(None) if encode is None else (encode, decode)


def encode_image(encode: Callable, pixels: np.ndarray, n: int) -> torch.Tensor:
    """``encode`` the uint8 image (H, W, C) and repeat it to a batch of ``n`` (model space)."""
    with torch.no_grad():
        z = encode(from_pixels(pixels))
    if not isinstance(z, torch.Tensor) or z.ndim < 2 or z.shape[0] != 1:
        raise ValueError(f"encode must return a tensor (1, ...) for one image, got {getattr(z, 'shape', type(z).__name__)}")
    return z.expand(positive_int("n", n), *z.shape[1:]).contiguous()


def decode_image(decode: Callable, x: torch.Tensor, pixels: np.ndarray) -> torch.Tensor:
    """``decode`` model-space ``x`` to float pixels (N, C, H, W) in [0, 1] of ``pixels``' size (checked)."""
    with torch.no_grad():
        out = decode(x)
    height, width, channels = pixels.shape
    shape = (x.shape[0], channels, height, width)
    if tuple(out.shape) != shape:
        raise ValueError(f"decode returned shape {tuple(out.shape)}, expected {shape} (N, C, H, W pixels in [0, 1])")
    return out


def positive_int(name: str, value) -> int:
    """``value`` as an int, or a ValueError naming ``name`` unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer)) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass
class EditResult:
    """What an image edit returns: ``images`` uint8 (N, H, W, C) and ``info`` (method,
    steps run, NFE, ...) for the caller to report."""

    images: np.ndarray
    info: dict = field(default_factory=dict)

    def pil(self) -> list:
        """The images as PIL images (mode L for one channel, RGB for three)."""
        from PIL import Image

        return [Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im) for im in self.images]

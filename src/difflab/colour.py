"""Colour of images: the YIQ colour space and hue transfer.

Colour preservation in style transfer (Gatys et al. 2016, "Preserving Color in Neural Artistic
Style Transfer", arXiv 1606.05897, sec. 2.2) keeps the stylised image's luminance Y and takes the
colour channels I, Q from the content image. A style that draws a lighter tint or a pattern of
saturation (dots on a tint, stripes) owns the chroma's *magnitude* as well, so :func:`keep_hue`
keeps the styled image's Y and |(I, Q)| and takes only the *direction* of (I, Q), the hue, from the
content image:

    (I, Q)_out = |(I, Q)_styled| v / |v|,   v = w u + (1 - w) (I, Q)_styled / |(I, Q)_styled|,
    u = c / |c|,  w = |c|^2 / (|c|^2 + floor^2),  c = G_blur * (I, Q)_content,

where G_blur is a Gaussian of ``blur`` pixels (so that the content's hue reaches a styled edge
that lies a pixel or two off the content's) and w hands the hue over only where the content has
one (a grey background has none: the styled pixel keeps its own).
"""
from __future__ import annotations

import torch

from .tensors import gaussian_blur

#: RGB in [0, 1] -> (Y, I, Q), the NTSC transform (FCC 1953; Y in [0, 1], I, Q about +-0.6)
RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def _matrix(like: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    m = torch.tensor(RGB_TO_YIQ, dtype=torch.float64)
    return (torch.linalg.inv(m) if inverse else m).to(like.device, like.dtype)


def rgb_to_yiq(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 3, H, W) Y, I, Q."""
    return torch.einsum("ij,njhw->nihw", _matrix(images), images)


def yiq_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`rgb_to_yiq` (not clamped to [0, 1])."""
    return torch.einsum("ij,njhw->nihw", _matrix(images, inverse=True), images)


def keep_hue(styled: torch.Tensor, content: torch.Tensor, blur: float = 1.5, floor: float = 0.05) -> torch.Tensor:
    """``styled`` (N, 3, H, W) in [-1, 1] with the hue of ``content`` (same shape) wherever the
    content is coloured (module docstring): its lightness and saturation stay the styled image's.
    ``blur``: the content's chroma is smoothed over this many pixels (std) before its hue is read;
    ``floor``: the chroma (in YIQ units, a saturated colour about 0.3 to 0.6) below which the
    content is treated as grey. Out-of-gamut results are clamped to [-1, 1]. Each image is
    computed from its own pair alone."""
    if styled.shape != content.shape or styled.ndim != 4 or styled.shape[1] != 3:
        raise ValueError(f"keep_hue needs two (N, 3, H, W) images of one shape, got {tuple(styled.shape)} "
                         f"and {tuple(content.shape)}")
    if not (blur >= 0 and floor > 0):
        raise ValueError(f"blur must be >= 0 and floor > 0, got {blur} and {floor}")
    s = rgb_to_yiq((styled.double() + 1) / 2)
    c = rgb_to_yiq((content.double() + 1) / 2)[:, 1:]
    if blur > 0:  # truncated at 3 std; the border reflected where the image is large enough, else zeros
        half = int(3 * blur + 0.5)
        c = gaussian_blur(c, blur, half, "reflect" if half < min(c.shape[-2:]) else "constant")
    size = c.norm(dim=1, keepdim=True)
    w = size ** 2 / (size ** 2 + floor ** 2)
    chroma = s[:, 1:]
    length = chroma.norm(dim=1, keepdim=True)
    v = w * c / size.clamp_min(1e-12) + (1 - w) * chroma / length.clamp_min(1e-12)
    out = torch.cat([s[:, :1], length * v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)], 1)
    return (yiq_to_rgb(out) * 2 - 1).clamp(-1, 1).to(styled.dtype)

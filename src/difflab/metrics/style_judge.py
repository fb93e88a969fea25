"""Which rendering style does an image show? A classical judge of the shapes world's styles
(:mod:`difflab.data.shapes.styles`), from pixels alone, beside the content judge.

Features, each computed over the whole image (every object pooled):

1. **blockiness**: where the edges lie in the blocks of the
   :data:`~difflab.data.shapes.styles.PIXEL_GRID` grid: the energy of pixel differences
   above noise on the grid's lines over that plus the largest at any other offset in a
   block (1 for the pixel style, under mild blur too; about 1/2 when edges fall anywhere).
2. **holes**: object pixels (opponent chroma over the background's >= ``CHROMA_MIN``) are
   filled (scipy.ndimage.binary_fill_holes); the share of the filled area that was a hole.
   An outline's interior is a hole.
3. **tint share**: inside the filled objects, away from their 1-pixel rim, the share of
   pixels whose chroma is between 0.3 and 0.75 of the full colour's (the object's 90th
   percentile): the tint of stripes and dots has 1 - TINT = 0.5.
4. **anisotropy**: among those interior pixels, how much more often a full-colour pixel
   agrees with its neighbour along (+1, -1) (along the stripes) than along (+1, +1)
   (across them); dots are isotropic.
5. **halo**: the mean chroma (of the opponent image smoothed by a 1-pixel Gaussian, so that
   noise averages out) in the ring 2 to 1 + :data:`HALO_REACH` pixels outside the objects'
   solid region (chroma >= 0.3 of the full colour, holes filled), less the median far from
   the objects, over the objects' full chroma: an anti-aliased edge ends within a pixel, a
   glow's halo does not.

Ratios to the "full colour" are per object: each pixel is compared with the 90th percentile
chroma of its nearest object. Decision, in order: pixel if blockiness >= :data:`BLOCKY`;
outline if holes >= :data:`HOLES`; glow if halo >= :data:`HALO`; striped or dotted if the
tint share >= :data:`TINTED` (striped if anisotropy >= :data:`ANISOTROPIC`); flat otherwise. The thresholds sit between
the rendered styles' feature ranges at 32, 64 and 128 pixels, clean and degraded by mild blur
and noise (tests/test_styles.py).
"""

from __future__ import annotations

import numpy as np

from ..data.shapes.styles import PIXEL_GRID, RENDER_STYLES
from .shapes_pixels import as_uint8, background, opponent

__all__ = ["style_features", "judge_style", "judge_styles", "BLOCKY", "HOLES", "TINTED", "ANISOTROPIC", "HALO"]

CHROMA_MIN = 50.0  # as the content judge's object pixels
BLOCKY = 0.75
EDGE_MIN = 60.0  # |RGB difference| summed over channels: an edge, not noise
HOLES = 0.1
TINTED = 0.25
ANISOTROPIC = 0.1
HALO = 0.04
HALO_REACH = 3  # the halo is read in the pixels 2 to 1 + HALO_REACH beyond the objects


def _blockiness(img: np.ndarray) -> float:
    """Edge energy on the block grid's lines against the largest off the lines: per offset k in
    a block, the pixel differences above ``EDGE_MIN`` (object edges, not noise) between pixels
    j and j + 1 with (j + 1) mod block = k; ``D_0 / (D_0 + max_k>0 D_k)``: 1 for blocks,
    about 1/2 when edges fall anywhere."""
    size = img.shape[0]
    block = size // PIXEL_GRID
    if size % PIXEL_GRID or block < 2:
        return 0.0
    x = img.astype(np.float64)
    dx, dy = np.abs(np.diff(x, axis=1)).sum(2), np.abs(np.diff(x, axis=0)).sum(2)
    energy = np.where(dx >= EDGE_MIN, dx, 0).sum(0) + np.where(dy >= EDGE_MIN, dy, 0).sum(1)
    per_offset = np.bincount((np.arange(size - 1) + 1) % block, weights=energy, minlength=block)
    on, off = per_offset[0], per_offset[1:].max()
    return float(on / (on + off)) if on + off > 0 else 0.0


def _agreement(full: np.ndarray, inner: np.ndarray, dy: int, dx: int) -> float:
    """P(full[p] == full[p + (dy, dx)]) over pixel pairs both in ``inner``."""
    h, w = full.shape
    ys, xs = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
    ys2, xs2 = slice(max(0, dy), h - max(0, -dy)), slice(max(0, dx), w - max(0, -dx))
    both = inner[ys, xs] & inner[ys2, xs2]
    return float((full[ys, xs] == full[ys2, xs2])[both].mean()) if both.any() else 1.0


def _full_chroma(chroma: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each pixel's nearest object's full chroma (the 90th percentile of its component of
    ``mask``), so that ratios compare a pixel with its own object's colour."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    full = np.array([0.0] + [max(float(np.percentile(chroma[labels == k], 90)), CHROMA_MIN) for k in range(1, n + 1)])
    _, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return full[labels[iy, ix]]


def style_features(image) -> dict[str, float]:
    """The five features above, of an image (uint8 (H, W, 3) or a tensor (3, H, W) in [-1, 1])."""
    from scipy import ndimage

    img = as_uint8(image)
    bg_rgb, _ = background(img)
    opp = opponent(img) - opponent(bg_rgb)
    chroma = np.hypot(opp[..., 0], opp[..., 1])
    mask = chroma >= CHROMA_MIN
    filled = ndimage.binary_fill_holes(mask)
    features = {"blockiness": _blockiness(img), "holes": 0.0, "tint": 0.0, "anisotropy": 0.0, "halo": 0.0}
    if filled.sum() == 0:
        return features
    features["holes"] = float((filled & ~mask).sum() / filled.sum())
    ratio = chroma / _full_chroma(chroma, filled)
    inner = ndimage.binary_erosion(filled, np.ones((3, 3), bool))
    if inner.sum() >= 4:
        features["tint"] = float(((ratio[inner] > 0.3) & (ratio[inner] < 0.75)).mean())
        full = ratio >= 0.75
        features["anisotropy"] = _agreement(full, inner, -1, 1) - _agreement(full, inner, 1, 1)
    solid = ndimage.binary_fill_holes(ratio >= 0.3)
    ring = np.ones((3, 3), bool)
    near = ndimage.binary_dilation(solid, ring)
    annulus = ndimage.binary_dilation(near, ring, iterations=HALO_REACH) & ~near
    far = ~ndimage.binary_dilation(annulus | near, ring, iterations=2)
    smooth = np.hypot(*(ndimage.gaussian_filter(opp[..., k], 1.0) for k in range(2)))  # noise averages out
    if annulus.any():
        floor = float(np.median(smooth[far])) if far.any() else 0.0
        full = float(np.median(_full_chroma(chroma, filled)[solid])) if solid.any() else CHROMA_MIN
        features["halo"] = (float(smooth[annulus].mean()) - floor) / full
    return features


def judge_style(image) -> str:
    """The rendering style an image shows, one of :data:`~difflab.data.shapes.RENDER_STYLES`."""
    f = style_features(image)
    if f["blockiness"] >= BLOCKY:
        return "pixel"
    if f["holes"] >= HOLES:
        return "outline"
    if f["halo"] >= HALO:
        return "glow"
    if f["tint"] >= TINTED:
        return "striped" if f["anisotropy"] >= ANISOTROPIC else "dotted"
    return "flat"


def judge_styles(images, styles) -> dict[str, float]:
    """Style accuracy of ``images`` against the intended ``styles`` (one name per image): the
    accuracy over all images, per intended style, and ``n``."""
    if len(images) != len(styles):
        raise ValueError(f"judge_styles needs one style per image, got {len(images)} images and {len(styles)} styles")
    unknown = sorted(set(styles) - set(RENDER_STYLES))
    if unknown:
        raise ValueError(f"unknown styles {unknown}; the styles are {list(RENDER_STYLES)}")
    right = np.array([judge_style(img) == s for img, s in zip(images, styles)])
    per = {s: float(right[[t == s for t in styles]].mean()) for s in RENDER_STYLES if s in styles}
    return {"style": float(right.mean()) if len(right) else 0.0, **{f"style_{s}": v for s, v in per.items()},
            "n": len(right)}

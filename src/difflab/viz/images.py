"""Image grids, written with PIL (no matplotlib needed)."""

from __future__ import annotations

from typing import Sequence

import torch

from ..io.atomic import atomic_path

__all__ = ["save_grid", "to_uint8", "save_gif", "trajectory_grid"]


def to_uint8(images: torch.Tensor):
    """Images (N, C, H, W) in [0, 1] as a uint8 array (N, H, W, C), rounded."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _grid_image(images: torch.Tensor, ncol: int, row_labels=None, col_labels=None, scale: int = 3):
    from PIL import Image, ImageDraw

    n, c, h, w = images.shape
    if c not in (1, 3):
        raise ValueError(f"can only draw 1- or 3-channel images, got {c} channels")
    nrow = -(-n // ncol)
    pad = 2
    label_w = 6 * max(len(str(t)) for t in row_labels) + 6 if row_labels else 0
    label_h = 14 if col_labels else 0
    H, W = h * scale, w * scale
    grid = Image.new("RGB", (label_w + ncol * (W + pad) + pad, label_h + nrow * (H + pad) + pad), "white")
    arr = to_uint8(images)
    draw = ImageDraw.Draw(grid)
    for i in range(n):
        r, col = divmod(i, ncol)
        tile = Image.fromarray(arr[i, :, :, 0] if c == 1 else arr[i], "L" if c == 1 else "RGB").resize((W, H), Image.NEAREST)
        grid.paste(tile.convert("RGB"), (label_w + pad + col * (W + pad), label_h + pad + r * (H + pad)))
    for r, label in enumerate(row_labels or []):
        draw.text((3, label_h + pad + r * (H + pad) + H // 2 - 5), str(label), fill="black")
    for col, label in enumerate(col_labels or []):
        draw.text((label_w + pad + col * (W + pad) + 2, 2), str(label), fill="black")
    return grid


def save_grid(images, path, *, ncol: int, row_labels: Sequence[str] | None = None,
              col_labels: Sequence[str] | None = None, scale: int = 3) -> None:
    """Save images as one PNG grid, ``ncol`` per row, each image enlarged ``scale`` times;
    ``row_labels`` are written left of each row, ``col_labels`` above each column.
    ``images``: a tensor (N, C, H, W) with values in [0, 1], or uint8 RGB images (an array
    (N, H, W, 3) or a sequence of (H, W, 3) arrays, as pipelines return them)."""
    if not isinstance(images, torch.Tensor):
        import numpy as np

        images = torch.from_numpy(np.stack([np.asarray(im) for im in images])).permute(0, 3, 1, 2).float() / 255
    grid = _grid_image(images, ncol, row_labels, col_labels, scale)
    with atomic_path(path) as tmp:
        grid.save(tmp, format="PNG")


def save_gif(frames: Sequence[torch.Tensor], path, *, ncol: int, scale: int = 3, duration_ms: int = 80,
             hold_last_ms: int = 1500, captions: Sequence[str] | None = None) -> None:
    """Save an animated GIF, one grid of images (N, C, H, W) in [0, 1] per frame
    (``captions[k]`` above frame k), looping, the last frame held ``hold_last_ms``."""
    if not frames:
        raise ValueError("no frames to animate")
    images = [_grid_image(f, ncol, col_labels=[captions[k]] if captions else None, scale=scale)
              for k, f in enumerate(frames)]
    durations = [duration_ms] * (len(images) - 1) + [hold_last_ms]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)


def trajectory_grid(states, path, *, scale: int = 3) -> None:
    """The reverse process of a few images as one PNG: ``states`` is a list of
    (sigma, x_t, x0_hat) with images (N, C, H, W) in [0, 1], noisiest first; each
    column is one step, and each sample gets two rows: x_t above, the model's
    prediction of x0 below."""
    n = len(states[0][1])
    tiles, rows = [], []
    for i in range(n):
        tiles += [s[1][i] for s in states] + [s[2][i] for s in states]
        rows += [f"x_t #{i}", f"x0^ #{i}"]
    cols = [f"s={s[0]:.3g}" for s in states]
    save_grid(torch.stack(tiles), path, ncol=len(states), row_labels=rows, col_labels=cols, scale=scale)

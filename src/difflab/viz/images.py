"""Image grids, written with PIL (no matplotlib needed)."""

from __future__ import annotations

from typing import Sequence

import torch

from ..atomic import atomic_path

__all__ = ["save_grid"]


def save_grid(images: torch.Tensor, path, *, ncol: int, row_labels: Sequence[str] | None = None, scale: int = 3) -> None:
    """Save images (N, C, H, W) with values in [0, 1] as one PNG grid, ``ncol`` per row,
    each image enlarged ``scale`` times; ``row_labels`` are written left of each row."""
    from PIL import Image, ImageDraw

    n, c, h, w = images.shape
    if c not in (1, 3):
        raise ValueError(f"can only draw 1- or 3-channel images, got {c} channels")
    nrow = -(-n // ncol)
    pad = 2
    label_w = 28 if row_labels else 0
    H, W = h * scale, w * scale
    grid = Image.new("RGB", (label_w + ncol * (W + pad) + pad, nrow * (H + pad) + pad), "white")
    arr = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    draw = ImageDraw.Draw(grid)
    for i in range(n):
        r, col = divmod(i, ncol)
        tile = Image.fromarray(arr[i, :, :, 0] if c == 1 else arr[i], "L" if c == 1 else "RGB").resize((W, H), Image.NEAREST)
        grid.paste(tile.convert("RGB"), (label_w + pad + col * (W + pad), pad + r * (H + pad)))
    for r, label in enumerate(row_labels or []):
        draw.text((3, pad + r * (H + pad) + H // 2 - 5), str(label), fill="black")
    with atomic_path(path) as tmp:
        grid.save(tmp, format="PNG")

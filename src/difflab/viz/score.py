"""The score field grad log p_sigma(x) of a 2-D model as arrows, at several noise levels."""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._figure import pyplot, save_figure

__all__ = ["score_fields"]

ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]


def score_fields(fields: Sequence[tuple[str, ScoreFn]], sigmas: Sequence[float], path, *,
                 limits: tuple[float, float] = (-3.0, 3.0), grid: int = 21, points: torch.Tensor | None = None) -> None:
    """One row per field (e.g. "learned", "true"), one column per noise level.

    Each ``score_fn(x, sigma)`` returns grad_x log p(x; sigma) for x of shape (N, 2) in the
    plotted coordinates. Arrow lengths are |score| / median |score| per panel, clipped at 1
    (directions are exact, lengths relative); ``points`` are drawn underneath in grey.
    """
    plt = pyplot()
    lo, hi = limits
    ticks = torch.linspace(lo, hi, grid, dtype=torch.float64)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    xy = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    fig, axes = plt.subplots(len(fields), len(sigmas), figsize=(2.8 * len(sigmas), 2.9 * len(fields)), squeeze=False)
    for r, (label, fn) in enumerate(fields):
        for c, sigma in enumerate(sigmas):
            ax = axes[r][c]
            with torch.no_grad():
                s = fn(xy, float(sigma)).double()
            # arrows longer than the median are clipped to unit length, so the structure
            # near the data stays visible beside the strong far field
            norms = s.norm(dim=1, keepdim=True)
            u = (s / norms.clamp(min=float(norms.median().clamp(min=1e-12)))).reshape(grid, grid, 2)
            if points is not None:
                ax.scatter(points[:, 0], points[:, 1], s=0.5, c="0.7", alpha=0.5, rasterized=True)
            ax.quiver(gx, gy, u[..., 0], u[..., 1], color="tab:red" if r else "tab:blue", scale=grid * 1.1, width=0.004)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"sigma = {sigma:g}", fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.suptitle("score field grad log p(x; sigma) (arrow length |score| / median, clipped at 1)", fontsize=10)
    save_figure(fig, path)

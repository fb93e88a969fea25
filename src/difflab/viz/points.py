"""Pictures of 2-D point clouds: samples over data, and the forward process as a strip."""

from __future__ import annotations

from typing import Sequence

import torch

from .. import processes
from ..schedules import Schedule
from ._figure import pyplot, save_figure

__all__ = ["scatter_samples", "forward_strip", "reverse_strip"]


def _limits(pts: torch.Tensor, pad: float = 0.15, square: bool = False):
    lo, hi = pts.min(0).values, pts.max(0).values
    span = (hi - lo).clamp(min=1e-3)
    if square:  # same span on both axes, so equal-aspect panels fill their boxes
        center, span = (lo + hi) / 2, span.max().expand(2)
        lo, hi = center - span / 2, center + span / 2
    return (lo - pad * span).tolist(), (hi + pad * span).tolist()


def scatter_samples(samples: torch.Tensor, path, data: torch.Tensor | None = None, title: str = "") -> None:
    """Samples (blue) over a draw of the data (grey)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ref = data if data is not None else samples
    if data is not None:
        ax.scatter(data[:, 0], data[:, 1], s=2, c="0.75", alpha=0.6, label="data", rasterized=True)
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.6, label="samples", rasterized=True)
    (x0, y0), (x1, y1) = _limits(ref)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def _strip(rows: Sequence[Sequence[tuple[str, torch.Tensor]]], path, limits_from: torch.Tensor, suptitle: str,
           row_labels: Sequence[str] = ()) -> None:
    plt = pyplot()
    ncol = len(rows[0])
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.4 * ncol, 2.5 * len(rows) + 0.2), squeeze=False)
    (x0, y0), (x1, y1) = _limits(limits_from, pad=0.35, square=True)
    for r, panels in enumerate(rows):
        for ax, (label, pts) in zip(axes[r], panels):
            ax.scatter(pts[:, 0], pts[:, 1], s=1, c="tab:blue" if r == 0 else "tab:orange", alpha=0.5, rasterized=True)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(label, fontsize=9)
        if r < len(row_labels):
            axes[r][0].set_ylabel(row_labels[r], fontsize=9)
    fig.suptitle(suptitle, fontsize=10)
    save_figure(fig, path)


def forward_strip(x0: torch.Tensor, schedule: Schedule, times: Sequence[float], path, generator=None) -> None:
    """Panels of x_t = alpha(t) x0 + sigma(t) eps at the given times (same eps in every panel)."""
    eps = torch.randn(x0.shape, generator=generator)
    panels = []
    for t in times:
        x_t = processes.q_sample(schedule, x0, float(t), eps)
        panels.append((f"t={t:g}  logSNR={float(schedule.log_snr(float(t))):.1f}" if t > 0 else "t=0 (data)", x_t))
    _strip([panels], path, x0, f"forward process q(x_t | x_0), {type(schedule).__name__}")


def reverse_strip(states: Sequence[tuple[float, torch.Tensor, torch.Tensor]], path, limits_from: torch.Tensor,
                  title: str = "reverse process") -> None:
    """Two rows for a reverse trajectory given (sigma, x_t, x0_hat) triples in data coordinates:
    the state x_t (top) and the model's estimate of the clean data E[x_0 | x_t] (bottom)."""
    top = [(f"sigma={s:.3g}", x) for s, x, _ in states]
    bottom = [("", x0) for _, _, x0 in states]
    _strip([top, bottom], path, limits_from, title, row_labels=("x_t", "predicted x_0"))

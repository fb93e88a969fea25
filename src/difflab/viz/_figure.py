"""matplotlib, imported lazily with a file-only backend, and atomic figure saving."""

from __future__ import annotations

from pathlib import Path

from ..io.atomic import atomic_path


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("drawing pictures needs matplotlib: pip install 'difflab[plot]'") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 120) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix) atomically, then close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    pyplot().close(fig)
    return path

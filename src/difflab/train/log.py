"""The training log: JSON lines, appended so that a kill never damages earlier lines,
and a loss-curve picture drawn from it.

Each line is one log interval: ``{"step", "loss", "lr", "grad_norm", "images_per_s",
"samples", "skipped", "time"}``. A line is appended with one ``write`` on a file
opened with ``O_APPEND`` and then synced, so a kill can at worst cut the last line
short; :func:`read_log` skips such a line, and a resumed run rewrites the log
(atomically) up to the checkpoint's step before it appends again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..io.atomic import write_text_atomic

__all__ = ["LossLog", "read_log", "append_record", "plot_loss_curve"]


def read_log(path) -> list[dict]:
    """The records of a JSONL log; a line cut short by a kill is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def append_record(path, record: dict) -> None:
    """Append ``record`` as one JSON line to ``path``: one ``write`` with ``O_APPEND``,
    then synced (module docstring)."""
    data = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class LossLog:
    """Append-only JSONL loss log at ``path``.

    ``resume_step=None`` starts an empty log; an integer keeps the records up to that
    step (those the resumed checkpoint had seen) and drops the rest.
    """

    def __init__(self, path, resume_step: int | None = None) -> None:
        self.path = Path(path)
        kept = [r for r in read_log(self.path) if r.get("step", 0) <= resume_step] if resume_step is not None else []
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def append(self, record: dict) -> None:
        append_record(self.path, record)

    def records(self) -> list[dict]:
        return read_log(self.path)


def plot_loss_curve(records: list[dict], path, title: str = "training loss"):
    """Loss (log scale) against step from log records, saved atomically to ``path``."""
    from ..viz._figure import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    kept = [r for r in records if r.get("loss") is not None]  # an interval of skipped steps has none
    steps, losses = [r["step"] for r in kept], [r["loss"] for r in kept]
    ax.plot(steps, losses, lw=1.2)
    if losses and min(losses) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean per log interval)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    return save_figure(fig, path)

"""The one policy of every trainer's output folder (``out``).

- A training owns its folder: :func:`difflab.io.atomic.lock_folder` holds an OS lock on
  it for the whole run, so a second training into the same folder fails at once
  (one model would be lost and the logs of both runs interleaved). The lock also
  proves, before any work, that the folder can be written.
- A folder that holds a model or a run (any of :data:`RUN_FILES`) is never replaced
  silently: ``resume=True`` continues its run (the trainers that checkpoint), and
  ``overwrite=True`` starts afresh in it (its checkpoint is removed first, so that a
  later ``resume`` cannot continue the old run; the model files are replaced when the
  new run writes them).

Under ``torchrun`` only rank 0 takes the lock and does the checks: the other ranks
write nothing into the folder.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
from pathlib import Path

from ..io.atomic import LOCK_FILE, lock_folder
from .log import read_log
from .loop import CHECKPOINT, LOG

__all__ = ["run_folder", "trainer", "model_exporter", "RUN_FILES"]

#: files whose presence makes a folder a model or run folder
RUN_FILES = ("config.json", "pipeline.json", "model.safetensors", CHECKPOINT, LOG)
#: a temporary file of :func:`difflab.io.atomic.atomic_path` (tempfile.mkstemp's 8 random characters),
#: or of a writer it calls that makes its own (``.tmpXXXXXX``, the Rust tempfile crate's, as
#: safetensors does)
TEMPORARY = re.compile(r"^(\..+\.[a-z0-9_]{8}(\.[A-Za-z0-9]+)?|\.tmp[A-Za-z0-9]{6})$")


def _rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


@contextlib.contextmanager
def run_folder(out, *, resume: bool = False, overwrite: bool = False):
    """Own the run folder ``out`` for a ``with`` block (module docstring): lock it, and
    refuse to replace a model or run in it unless ``resume`` or ``overwrite``."""
    out = Path(out)
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: resume continues the run in the folder, "
                         "overwrite starts a new one")
    if _rank() != 0:
        yield out
        return
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file: the output of a training is a folder")
    created = not out.exists()
    try:
        with lock_folder(out):
            present = [name for name in RUN_FILES if (out / name).exists()]
            if resume and not (out / CHECKPOINT).is_file():
                raise FileNotFoundError(f"nothing to resume: {out / CHECKPOINT} does not exist")
            if present and not resume:
                if not overwrite:
                    raise FileExistsError(f"{out} already holds a model or run ({', '.join(present)}): --resume "
                                          "(resume=True) continues its run, --overwrite (overwrite=True) replaces "
                                          "it, or choose another folder")
                (out / CHECKPOINT).unlink(missing_ok=True)
            remove_temporaries(out)
            yield out
    except BaseException:
        if created and out.is_dir() and {p.name for p in out.iterdir()} <= {LOCK_FILE}:  # failed before writing anything
            (out / LOCK_FILE).unlink(missing_ok=True)
            out.rmdir()
        raise


def remove_temporaries(out: Path) -> None:
    """Remove the temporary files of writes a kill cut short (:func:`difflab.io.atomic.atomic_path`
    names them ``.NAME.XXXXXXXX...``); called under the folder's lock, so none is in use."""
    for path in out.iterdir():
        if TEMPORARY.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)


def model_exporter(out, denoiser, extra: dict):
    """The ``on_checkpoint`` of :func:`difflab.train.fit` for a trainer whose run folder is
    also its model folder: at each checkpoint, save ``denoiser`` (with the EMA weights)
    into ``out`` with the config ``extra``, its ``"training"`` entry completed with the
    steps done and the last logged loss."""
    from ..io.folders import save_model

    def export(step: int, ema) -> None:
        losses = [r["loss"] for r in read_log(Path(out) / LOG) if r.get("loss") is not None]
        info = {**extra["training"], "steps_done": step, "final_loss": losses[-1] if losses else None}
        save_model(out, denoiser, {**extra, "training": info}, ema_state=ema.state_dict() if ema is not None else None)

    return export


def trainer(fn):
    """Decorate a trainer ``fn(..., out, resume=False, overwrite=False, ...)`` so that it
    runs inside :func:`run_folder` of its ``out`` (checked before any of its work)."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        with run_folder(arguments["out"], resume=arguments.get("resume", False),
                        overwrite=arguments.get("overwrite", False)):
            return fn(*args, **kwargs)

    return wrapper

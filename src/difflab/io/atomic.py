"""Every file difflab writes goes through here.

- **Atomic**: write a temporary file in the same folder, then rename it over the
  target (atomic on POSIX), so a crash, a kill or a full disk never leaves a
  half-written file (:func:`atomic_path`).
- **Only regular files**: a target that exists and is not a regular file (a device
  such as ``/dev/null``, a named pipe, a folder) is refused, never replaced.
- **No clobbering**: a command first claims the files it will write
  (:func:`claim_outputs`): each must be new, or ``overwrite`` must be given, and its
  folder must be writable, all checked before any work starts. A claimed file is then
  written without replacing anything that appeared meanwhile (a hard link, which fails
  on an existing name), and only the run that created it replaces it afterwards.
- **Whole folders** that make one model (a pipeline of several parts) are written into a
  fresh temporary folder beside the target and renamed into place (:func:`atomic_folder`),
  so a crash never pairs new parts with old ones.
- **One writer per run folder**: :func:`lock_folder` takes an OS advisory lock
  (``flock``) on ``FOLDER/.difflab.lock``; a second process fails at once. The OS
  drops the lock when the process ends, however it ends, so a killed run can resume.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "atomic_folder", "write_text_atomic", "write_json_atomic", "claim_outputs", "release_outputs", "check_target", "lock_folder", "FolderInUse",
           "LOCK_FILE"]

LOCK_FILE = ".difflab.lock"

#: claimed output files (absolute paths) -> may an existing file be replaced
_claimed: dict[str, bool] = {}


class FolderInUse(OSError):
    """Another process holds the folder's lock."""


def _key(path: Path) -> str:
    return os.path.join(os.path.realpath(path.parent), path.name)


def _refuse_special(path: Path) -> None:
    """Refuse a target that exists and is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there (or its folder is a file: said later)
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
        raise ValueError(f"{path} is {kind}: difflab writes only regular files")


def _writable_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) and prove it takes a new file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"cannot write into {folder}: it is a file, not a folder") from None
    except OSError as e:
        raise OSError(f"cannot create folder {folder}: {e.strerror}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".difflab-probe.", dir=folder)
    except OSError as e:
        raise PermissionError(f"cannot write into {folder}: {e.strerror}") from None
    os.close(fd)
    os.unlink(probe)


def check_target(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check that ``path`` may be written as a new file (or, with ``overwrite``, replace
    a regular file), and that its folder takes files. Returns ``path`` as a Path."""
    path = Path(path)
    _refuse_special(path)
    _writable_folder(path.parent)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists: difflab does not replace files it did not write in this run "
                              "(pass --overwrite, or choose another name)")
    return path


def claim_outputs(paths, *, overwrite: bool = False) -> list[Path]:
    """Check, before any work, every file a command will write (:func:`check_target`),
    refuse two outputs with the same name, and remember them: :func:`atomic_path` then
    never replaces a file that appeared meanwhile unless ``overwrite``."""
    paths = [Path(p) for p in paths]
    seen: dict[str, Path] = {}
    for path in paths:
        key = _key(path)
        if key in seen:
            raise ValueError(f"two outputs of this command would both be written to {path}")
        seen[key] = path
        check_target(path, overwrite=overwrite)
    for key in seen:
        _claimed[key] = overwrite
    return paths


def release_outputs() -> None:
    """Forget the claims of :func:`claim_outputs` (the end of a command)."""
    _claimed.clear()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path beside ``path``; on success it becomes ``path``.

    ``suffix`` (default: the target's) keeps writers that look at the file
    extension (matplotlib, PIL, numpy) happy. A target that is not a regular file is
    refused; a claimed one (:func:`claim_outputs`) is never clobbered.
    """
    path = Path(path)
    _refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        _commit(Path(tmp), path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _commit(tmp: Path, path: Path) -> None:
    key = _key(path)
    _refuse_special(path)
    if _claimed.get(key, True):
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if the name exists: nothing is ever clobbered
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while difflab was working: it was not replaced") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists():  # a file system without hard links: check, then rename
            raise FileExistsError(f"{path} appeared while difflab was working: it was not replaced") from None
        os.replace(tmp, path)
    else:
        os.unlink(tmp)
    _claimed[key] = True  # written by this run: it may replace it again


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_folder(folder: str | os.PathLike):
    """Yield a fresh empty folder beside ``folder``; when the block ends without an error it
    replaces ``folder`` (the old one renamed aside first, removed after), else it is removed
    and ``folder`` stays as it was. Between the two renames ``folder`` is briefly absent, never
    a mixture of old and new files. The caller decides whether replacing is allowed."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder: difflab writes a model folder there")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
        os.replace(folder, old / folder.name)
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_safe(value):
    """``value`` with every non-finite float (a noise level of inf: every level) as the string
    ``"inf"``, ``"-inf"`` or ``"nan"``, which strict JSON readers take (``Infinity`` is not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json_atomic(path: str | os.PathLike, data, indent: int = 2) -> None:
    """``data`` as strict JSON (non-finite floats as strings, see :func:`_json_safe`), written
    atomically (:func:`atomic_path`)."""
    write_text_atomic(path, json.dumps(_json_safe(data), indent=indent, allow_nan=False) + "\n")


@contextlib.contextmanager
def lock_folder(folder: str | os.PathLike):
    """Hold an exclusive advisory lock on ``folder`` (created if needed) for the
    ``with`` block; :class:`FolderInUse` at once if another process holds it.

    This also proves, before any work, that the folder can be created and written.
    """
    folder = Path(folder)
    _writable_folder(folder)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            import fcntl
        except ImportError:  # not POSIX: no advisory locks; the folder checks still hold
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FolderInUse(f"{folder} is in use by another difflab process (a training into the same "
                                  "folder?): wait for it to end, or choose another folder") from None
        yield folder
    finally:
        os.close(fd)  # closing the descriptor releases the lock

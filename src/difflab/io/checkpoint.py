"""A training checkpoint is ONE file, written atomically, never pickled.

The file is a safetensors file (every tensor) whose header metadata holds one JSON
document (everything else):

- tensors: ``model/<name>`` (the training weights), ``ema/<name>`` (the EMA shadow),
  ``optimizer/<param index>/<name>`` (AdamW moments and step counts),
  ``rng/<stream>`` (generator states as uint8 tensors: ``torch/<rank>`` the global
  CPU generator of each rank, ``cuda/<rank>/<device>`` when CUDA is present, and the
  trainer's own ``data`` and ``noise`` generators);
- JSON: ``format``/``version``, ``step``, counters (samples seen, skipped steps ...),
  the training ``config``, the optimizer's param groups and non-tensor state, the
  LR scheduler's state, and a SHA-256 of every tensor's name, dtype, shape and bytes.

Reading checks the format, the checksum (a flipped bit in the weights is a clear
error, not a silently different model), the network's parameter names and shapes,
and the training config, and names the file and the mismatch in every error.
Writing goes through :func:`difflab.io.atomic.atomic_path`: a crash or a kill leaves
the previous checkpoint as it was.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .atomic import atomic_path
from .folders import check_state_dict  # shared with folders.load_model; re-exported for the loop

__all__ = ["Checkpoint", "save_checkpoint", "read_checkpoint", "config_differences", "check_state_dict"]

FORMAT = "difflab-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """The content of a checkpoint file, as plain tensors and JSON-able values."""

    step: int
    model: dict
    optimizer: dict
    scheduler: dict
    config: dict
    ema: dict | None = None
    rng: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    path: Path | None = None


def _checksum(tensors: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous().cpu()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _json(value, what: str, path) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=True)
    except TypeError as e:
        raise TypeError(f"{path}: the {what} is not JSON-able ({e}); a checkpoint holds only tensors and "
                        f"plain numbers, strings, lists and dicts") from None


def save_checkpoint(path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` as one safetensors file, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {f"model/{k}": v for k, v in ckpt.model.items()}
    if ckpt.ema is not None:
        tensors.update({f"ema/{k}": v for k, v in ckpt.ema.items()})
    opt_state = {}
    for index, state in ckpt.optimizer["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{index}/{name}"] = value
            else:
                opt_state.setdefault(str(index), {})[name] = value
    tensors.update({f"rng/{k}": v for k, v in ckpt.rng.items()})
    # safetensors refuses shared or non-contiguous storage: store private contiguous copies
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(ckpt.step),
        "counters": ckpt.counters,
        "config": ckpt.config,
        "has_ema": ckpt.ema is not None,
        "optimizer": {"param_groups": ckpt.optimizer["param_groups"], "state": opt_state},
        "scheduler": ckpt.scheduler,
        "sha256": _checksum(tensors),
    }
    text = _json(meta, "checkpoint metadata", path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"difflab": text})
    return path


def read_checkpoint(path) -> Checkpoint:
    """Read and verify a checkpoint file (format, version, checksum)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for truncated or garbled files
        raise ValueError(f"{path}: corrupted checkpoint, not a readable safetensors file ({e})") from None
    if "difflab" not in header:
        raise ValueError(f"{path}: not a difflab training checkpoint (no 'difflab' metadata in the header)")
    try:
        meta = json.loads(header["difflab"])
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: corrupted checkpoint metadata ({e})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a difflab training checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint format version {meta.get('version')} cannot be read by this "
                         f"difflab (it reads version {VERSION})")
    if _checksum(tensors) != meta.get("sha256"):
        raise ValueError(f"{path}: corrupted checkpoint: the tensors do not match the SHA-256 recorded when it was written")

    def group(prefix: str) -> dict:
        n = len(prefix)
        return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix)}

    opt_state: dict = {}
    for key, value in group("optimizer/").items():
        index, name = key.split("/", 1)
        opt_state.setdefault(int(index), {})[name] = value
    for index, state in meta["optimizer"]["state"].items():
        opt_state.setdefault(int(index), {}).update(state)
    return Checkpoint(
        step=int(meta["step"]),
        model=group("model/"),
        ema=group("ema/") if meta.get("has_ema") else None,
        optimizer={"state": opt_state, "param_groups": meta["optimizer"]["param_groups"]},
        scheduler=meta["scheduler"],
        config=meta["config"],
        rng=group("rng/"),
        counters=meta.get("counters", {}),
        path=path,
    )


def config_differences(saved, current, ignore=(), prefix: str = "") -> list[str]:
    """Human-readable differences ``key: saved -> current`` between two JSON-able configs.

    ``ignore`` lists dotted keys (``"fit.steps"``) that may differ.
    """
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(saved) | set(current), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if name in ignore:
                continue
            if key not in current:
                out.append(f"{name}: {saved[key]!r} in the checkpoint, absent now")
            elif key not in saved:
                out.append(f"{name}: absent in the checkpoint, {current[key]!r} now")
            else:
                out += config_differences(saved[key], current[key], ignore, name)
        return out
    return [] if saved == current else [f"{prefix}: {saved!r} in the checkpoint, {current!r} now"]

"""safetensors files: written atomically, read whole, or read as a header of names and shapes.

safetensors (not pickle) is the only weight format difflab writes or reads: loading it runs
no code.
"""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_path

__all__ = ["save_weights", "load_weights", "weight_shapes", "json_metadata"]


def save_weights(path: Path, state: dict, metadata: dict[str, str] | None = None) -> None:
    """Write ``state`` (and string ``metadata`` in the header) atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def load_weights(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from None


def json_metadata(path: Path, key: str, what: str):
    """The JSON value stored under ``key`` in the header metadata of safetensors file ``path``
    (None where there is none); a one-line ValueError naming ``what`` the file should be where
    it is not a readable safetensors file."""
    import json

    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return json.loads((f.metadata() or {}).get(key, "null"))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{path}: not {what} ({e})") from None


def weight_shapes(path: Path) -> dict[str, tuple]:
    """The names and shapes of the tensors in safetensors file ``path``, read from its
    header alone (no tensor is loaded)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from None

"""Reading a JSON object from a file with one-line errors (a missing file, bad JSON, not an object)."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["read_json_object"]


def read_json_object(path, missing: str) -> dict:
    """The JSON object in ``path``; FileNotFoundError "``path`` is missing: ``missing``" when
    there is no such file, ValueError naming the file when it is not a JSON object."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {missing}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data

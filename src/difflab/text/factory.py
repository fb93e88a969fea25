"""Build a text encoder from its config (:func:`text_encoder_from_config`), with a cache:
loading a pretrained one takes seconds. Importing this module registers the built-in
encoders (``hashing`` in :mod:`difflab.text.encoder`, ``minilm`` in
:mod:`difflab.text.minilm`; neither imports anything heavy)."""

from __future__ import annotations

import json
import threading

from . import minilm  # noqa: F401  (registers "minilm")
from .encoder import TEXT_ENCODERS, TextEncoder

__all__ = ["text_encoder_from_config", "clear_text_encoder_cache"]

_CACHE: dict[str, TextEncoder] = {}
_LOCK = threading.Lock()


def text_encoder_from_config(config: dict, *, cache: bool = True) -> TextEncoder:
    """Build the text encoder that ``config`` (an encoder's ``.config``) describes.

    Encoders are cached by their config (loading a pretrained one takes seconds): the
    same config returns the same frozen instance unless ``cache=False``.
    """
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"a text encoder config must be a dict with a 'type', got {config!r}")
    kind = config["type"]
    if kind not in TEXT_ENCODERS:
        raise ValueError(f"unknown text encoder type {kind!r}; expected one of: {', '.join(sorted(TEXT_ENCODERS))}")
    key = json.dumps(config, sort_keys=True)
    if cache and key in _CACHE:
        return _CACHE[key]
    with _LOCK:
        if cache and key in _CACHE:
            return _CACHE[key]
        args = {k: v for k, v in config.items() if k != "type"}
        try:
            encoder = TEXT_ENCODERS[kind](**args)
        except TypeError as e:
            raise ValueError(f"bad {kind} text encoder config: {e}") from None
        if cache:
            _CACHE[key] = encoder
    return encoder


def clear_text_encoder_cache() -> None:
    """Forget the cached encoders (frees a pretrained model's memory)."""
    _CACHE.clear()

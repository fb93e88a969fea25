"""Bounds on what one call may ask for, checked before any memory is allocated.

A typo (``-n 1000000000``, ``--scale 1000``) or a hostile file (a 20000 x 20000 PNG)
must end in a one-line error that names the limit, never in minutes of swapping or a
``MemoryError`` from deep inside. Each limit has a name, a default that covers every
documented use with room to spare, and can be raised:

- on the command line, ``--limit NAME=VALUE`` (any command; repeatable);
- in Python, ``difflab.limits.set_limit(NAME, VALUE)`` or, for a block,
  ``with difflab.limits.raised(NAME=VALUE): ...``.

| name | bounds | default |
|---|---|---|
| ``images`` | images one command or call makes (``-n`` times the prompts) | 10,000 |
| ``points`` | points of a 2-D toy model one command draws | 10,000,000 |
| ``pixels`` | pixels of one image read (checked from the file's header, before decoding) or written | 4096 x 4096 |
| ``steps`` | sampler steps (the grid is allocated up front) | 100,000 |
"""

from __future__ import annotations

import contextlib

__all__ = ["DEFAULTS", "limit", "set_limit", "raised", "check_limit", "check_pixels"]

#: name -> (default, what one unit is)
DEFAULTS: dict[str, tuple[int, str]] = {
    "images": (10_000, "images"),
    "points": (10_000_000, "points"),
    "pixels": (4096 * 4096, "pixels per image"),
    "steps": (100_000, "steps"),
}

_current: dict[str, int] = {name: default for name, (default, _) in DEFAULTS.items()}


def _known(name: str) -> str:
    if name not in DEFAULTS:
        raise ValueError(f"unknown limit {name!r}; the limits are: {', '.join(DEFAULTS)}")
    return name


def limit(name: str) -> int:
    """The current value of limit ``name``."""
    return _current[_known(name)]


def set_limit(name: str, value: int) -> None:
    """Set limit ``name`` to ``value`` (a positive integer) for the rest of the process."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"limit {name} must be a positive integer, got {value!r}")
    _current[_known(name)] = value


@contextlib.contextmanager
def raised(**values: int):
    """Set limits for the duration of a ``with`` block, then restore them."""
    before = {name: limit(name) for name in values}
    try:
        for name, value in values.items():
            set_limit(name, value)
        yield
    finally:
        _current.update(before)


def check_limit(name: str, value: int, what: str) -> int:
    """``value`` if it is within limit ``name``; else a one-line ValueError naming ``what``
    (e.g. ``"-n"``), the limit and how to raise it."""
    cap = limit(name)
    if value > cap:
        unit = DEFAULTS[name][1]
        raise ValueError(f"{what} asks for {value:,} {unit}, over the limit of {cap:,}; raise it with "
                         f"--limit {name}={value} (Python: difflab.limits.set_limit({name!r}, {value}))")
    return value


def check_pixels(height: int, width: int, what: str) -> None:
    """Check an image of ``height`` x ``width`` against the ``pixels`` limit."""
    check_limit("pixels", int(height) * int(width), f"{what} ({int(width)}x{int(height)})")

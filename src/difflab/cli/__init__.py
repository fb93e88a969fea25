"""The ``difflab`` command. Thin: it parses, calls the library, prints.

Each sub-command group lives in its own module with a ``register(sub)`` that adds
its parsers. torch is imported only inside the command handlers, so
``difflab --help`` answers at once. Bad input ends in one line on stderr and exit
status 2 (``DIFFLAB_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from . import edit, evaluate, generate, sample, show, train, upscale

__all__ = ["main", "build_parser"]

_GROUPS = (train, sample, evaluate, edit, generate, upscale, show)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="difflab", description="Diffusion generative models: train, sample, look inside.")
    p.add_argument("--version", action="version", version=f"difflab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in _GROUPS:
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        # a command group without its sub-command: show that group's help
        parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        return 2
    try:
        handler(args)
    except KeyboardInterrupt:
        print("difflab: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError, ImportError, OSError, RuntimeError) as e:
        if os.environ.get("DIFFLAB_DEBUG"):
            raise
        print(f"difflab: error: {e} (set DIFFLAB_DEBUG=1 for the traceback)" if isinstance(e, RuntimeError)
              else f"difflab: error: {e}", file=sys.stderr)
        return 2
    return 0

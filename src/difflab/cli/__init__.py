"""The ``difflab`` command. Thin: it parses, calls the library, prints.

Each sub-command group lives in its own module with a ``register(sub)`` that adds
its parsers. torch is imported only inside the command handlers, so
``difflab --help`` answers at once. Bad input ends in one line on stderr and exit
status 2 (``DIFFLAB_DEBUG=1`` shows the traceback). Ctrl-C (SIGINT) ends a command
with "difflab: interrupted" and exit status 130, and is never lost (:func:`_interrupts`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time

from .. import __version__
from . import edit, evaluate, generate, sample, serve, show, train, tune, unclip, upscale
from ._common import resolve_model

__all__ = ["main", "build_parser"]

_GROUPS = (train, sample, evaluate, edit, generate, unclip, upscale, show, tune, serve)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="difflab", description="Diffusion generative models: train, sample, look inside.")
    p.add_argument("--version", action="version", version=f"difflab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in _GROUPS:
        group.register(sub)
    for command in _commands(p):
        command.add_argument("--limit", type=_limit, action="append", metavar="NAME=VALUE", default=[],
                             help="raise a limit for this run: images, points, pixels or steps (see difflab.limits)")
    return p


def _commands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of every runnable command (the leaves of the sub-command tree)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [parser]
    return [leaf for a in subs for child in dict.fromkeys(a.choices.values()) for leaf in _commands(child)]


def _limit(text: str) -> tuple[str, int]:
    """argparse type: ``NAME=VALUE`` of a limit of :mod:`difflab.limits`."""
    from ..limits import DEFAULTS

    name, _, value = text.partition("=")
    if name not in DEFAULTS:
        raise argparse.ArgumentTypeError(f"unknown limit {name!r}; the limits are: {', '.join(DEFAULTS)}")
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"a limit is a positive integer, got {text!r}")
    return name, number


@contextlib.contextmanager
def _interrupts():
    """SIGINT raises KeyboardInterrupt, and keeps raising it once a second until the
    command has stopped: Python swallows an exception raised while a finalizer
    (``__del__``, a weakref or GC callback) runs ("Exception ignored in ..."), so a
    single KeyboardInterrupt that lands there would let a training run on. Yields a
    dict whose ``"stopped"`` the caller sets when it has caught the interrupt. Only in
    the main thread; the previous handler comes back afterwards."""
    state = {"stopped": False, "repeating": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def repeat():
        while not state["stopped"]:
            time.sleep(1.0)
            if not state["stopped"]:
                signal.raise_signal(signal.SIGINT)

    def handler(signum, frame):
        if state["stopped"]:
            return
        if not state["repeating"]:
            state["repeating"] = True
            threading.Thread(target=repeat, name="difflab-sigint", daemon=True).start()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        state["stopped"] = True
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    try:
        with _interrupts() as interrupts:
            status = _main(argv, interrupts)
    except SystemExit as e:  # argparse's usage errors
        if e.code not in (None, 0):
            _leaving_after_failure()
        raise
    if status:
        _leaving_after_failure()
    return status


def _leaving_after_failure() -> None:
    # a rank of a torchrun job that fails must not wait at the clean-exit barrier (a peer
    # may sit in a collective it will never join); only where a process group was made
    distributed = sys.modules.get("difflab.train.distributed")
    if distributed is not None:
        distributed.leaving_after_failure()


def _main(argv: list[str] | None, interrupts: dict) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    resolve_model(parser, args)
    handler = getattr(args, "handler", None)
    if handler is None:
        # a command group without its sub-command: show that group's help
        parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        return 2
    try:
        from ..io.atomic import release_outputs
        from ..limits import raised

        try:
            with raised(**dict(args.limit)):
                handler(args)
        finally:
            release_outputs()
    except KeyboardInterrupt:
        interrupts["stopped"] = True
        print("difflab: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError, ImportError, OSError, RuntimeError) as e:
        if os.environ.get("DIFFLAB_DEBUG"):
            raise
        print(f"difflab: error: {e} (set DIFFLAB_DEBUG=1 for the traceback)" if isinstance(e, RuntimeError)
              else f"difflab: error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("difflab: error: out of memory (ask for fewer or smaller images, or a smaller batch)", file=sys.stderr)
        return 2
    return 0

"""``difflab serve``: the web app (docs/app.md); Gradio is the extra ``difflab[app]``."""

from __future__ import annotations

from ._common import positive_int


def _port(text: str) -> int:
    import argparse

    value = int(text) if text.isdigit() else -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return value


def _cmd_serve(args) -> None:
    import importlib.util
    from pathlib import Path

    from ..app import Limits, serve

    try:
        found = importlib.util.find_spec("gradio") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ImportError("difflab serve needs Gradio: pip install 'difflab[app]'")
    if args.model is not None and not Path(args.model).is_dir():
        raise FileNotFoundError(f"pipeline folder {args.model!r} does not exist")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: other machines can reach the app; it has no login")
    limits = Limits(images=args.max_images, steps=args.max_steps)
    host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address in a URL is bracketed
    print(f"difflab app on http://{host}:{args.port} (Ctrl-C stops)")
    serve(args.model, host=args.host, port=args.port, concurrency=args.concurrency, limits=limits)


def register(sub) -> None:
    p = sub.add_parser("serve", help="the web app: generate, edit, and watch diffusion work (needs difflab[app])")
    p.add_argument("--model", default=None, help="a pipeline folder to offer (default: the shipped t2i and unCLIP)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=7860, help="port (default 7860)")
    p.add_argument("--concurrency", type=positive_int, default=1,
                   help="jobs run at once (default 1: one generation at a time on the CPU)")
    p.add_argument("--max-images", type=positive_int, default=8, help="images per request at most (default 8)")
    p.add_argument("--max-steps", type=positive_int, default=100, help="sampler steps per request at most (default 100)")
    p.set_defaults(handler=_cmd_serve)

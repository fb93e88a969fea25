"""Argument types and option groups shared by the ``difflab`` sub-commands."""

from __future__ import annotations

import argparse
import math
import re

TOY_DATA = ("moons", "swiss-roll", "8gaussians", "checkerboard")
#: difflab.grids.SPACINGS, spelled here so that building the parser imports no torch
#: (tests/test_cli_grammar.py checks the two agree)
SPACINGS = ("trailing", "leading", "linspace", "uniform-t", "karras", "log-snr", "tuned")


def integer(lo: int):
    """argparse type: an integer >= ``lo``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo:
            want = "a positive integer" if lo == 1 else f"an integer >= {lo}"
            raise argparse.ArgumentTypeError(f"expected {want}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


positive_int = integer(1)
nonnegative_int = integer(0)


#: the largest seed: sample i uses seed + i, and streams add fixed offsets, all within 64 bits
MAX_SEED = 2**62


def seed(text: str) -> int:
    """argparse type: a seed, an integer in 0 .. 2**62."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must lie in 0 .. 2**62, got {value}")
    return value


def number(lo: float | None = None, hi: float | None = None, *, above: bool = False):
    """argparse type: a finite number in [lo, hi] (``above``: strictly greater than lo)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = not math.isfinite(value) or (lo is not None and (value <= lo if above else value < lo)) \
            or (hi is not None and value > hi)
        if bad:
            want = " and ".join(w for w in (
                None if lo is None else f"{'>' if above else '>='} {lo:g}", None if hi is None else f"<= {hi:g}") if w)
            raise argparse.ArgumentTypeError(f"expected a finite number{' ' + want if want else ''}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def device(value: str) -> str:
    """argparse type: a torch device name, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", value):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {value!r}")
    return value


def text(value: str) -> str:
    """argparse type: text that is valid UTF-8 (a prompt)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"not valid UTF-8 text: {value.encode('utf-8', 'surrogateescape')!r}") from None
    return value


#: names a sampler option may not take: each is an option of its own, or not for the command line
RESERVED_OPTIONS = {"eta": "--eta", "variance": "--variance", "steps": "--steps", "sampler": "--sampler", "spacing": "--spacing", "seed": "--seed",
                    "guidance": "--guidance", "generator": "--seed", "sigmas": "--steps and --spacing",
                    "cond": None, "callback": None, "return_info": None, "noise": None, "model": None,
                    "denoiser": None, "x": None}


def option(text: str) -> tuple[str, object]:
    """argparse type: ``NAME=VALUE``, VALUE read as int, float, true/false or text (the
    sampler checks it against the option's declared type)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    key = key.replace("-", "_")
    if key in RESERVED_OPTIONS:
        flag = RESERVED_OPTIONS[key]
        raise argparse.ArgumentTypeError(f"{key} is not a sampler option" + (f": use {flag}" if flag else ""))
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, value


def add_overwrite(p: argparse.ArgumentParser, help: str = "replace output files that exist already") -> None:
    """``--overwrite``: replace output files that exist (by default they are never replaced)."""
    p.add_argument("--overwrite", action="store_true", help=help)


def claim(args, *paths) -> None:
    """Check before any work that the command may write ``paths`` (None entries skipped):
    :func:`difflab.io.atomic.claim_outputs` with the command's ``--overwrite``."""
    from ..io.atomic import claim_outputs

    claim_outputs([p for p in paths if p is not None], overwrite=getattr(args, "overwrite", False))


def numbered_pngs(out: str, n: int) -> list:
    """The PNG files of ``n`` images written to ``--out``: the file itself for one image,
    ``NAME-i.png`` for several; a one-line error for another suffix."""
    from pathlib import Path

    path = Path(out)
    if path.suffix.lower() != ".png":
        raise ValueError(f"--out must be a .png file, got {out!r}")
    return [path] if n == 1 else [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(n)]


def count(n: int, kind: str, what: str = "-n") -> int:
    """``n`` images or points, checked against :mod:`difflab.limits`."""
    from ..limits import check_limit

    return check_limit(kind, n, what)


def add_model(p: argparse.ArgumentParser, help: str = "model folder") -> None:
    """The model a command works on: ``--model DIR`` in every command; where a model is
    required (no shipped default), ``DIR`` may also come first as a positional argument."""
    p.add_argument("model_positional", nargs="?", metavar="MODEL", help=f"{help} (or --model)")
    p.add_argument("--model", default=None, help=help)


def resolve_model(parser: argparse.ArgumentParser, args) -> None:
    """After parsing: ``args.model`` from ``MODEL`` or ``--model`` (:func:`add_model`)."""
    if not hasattr(args, "model_positional"):
        return
    if args.model_positional is not None:
        if args.model is not None:
            parser.error("give the model once: as MODEL or as --model")
        args.model = args.model_positional
    if args.model is None:
        parser.error("the model folder is required: MODEL or --model DIR")


def add_sampler_args(p: argparse.ArgumentParser, *, sampler: str = "ddim", steps: int = 50) -> None:
    """The sampler options every sampling command takes (see :func:`difflab.sample`)."""
    p.add_argument("--sampler", default=sampler, help=f"sampler name (default {sampler}); a wrong name lists them")
    p.add_argument("--steps", type=positive_int, default=steps, help=f"sampler steps (default {steps})")
    p.add_argument("--spacing", default=None, help=f"grid: {', '.join(SPACINGS)} (default: the sampler's)")
    p.add_argument("--eta", type=number(0), default=None, help="DDIM eta (0 deterministic, 1 = DDPM)")
    p.add_argument("--variance", default=None, help="DDPM variance: posterior or beta")
    p.add_argument("-o", "--option", type=option, action="append", metavar="NAME=VALUE", help="any other sampler option")


def sampler_options(args) -> dict:
    """The keyword options of :func:`difflab.sample` from :func:`add_sampler_args`' arguments."""
    options = dict(args.option or [])
    if args.eta is not None:
        options["eta"] = args.eta
    if args.variance is not None:
        options["variance"] = args.variance
    return options


def toy_model(path):
    """Load a 2-D toy model folder: (denoiser, config, data transform); a clear error for other models."""
    from ..data import Affine
    from ..io.folders import load_model

    denoiser, config = load_model(path)
    if config.get("task") != "toy":
        raise ValueError(f"{path}: this command works on 2-D toy models; the folder holds a {config.get('task')!r} model")
    return denoiser, config, Affine.from_config(config["data"]["transform"])

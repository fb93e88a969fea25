"""Argument types and option groups shared by the ``difflab`` sub-commands."""

from __future__ import annotations

import argparse

TOY_DATA = ("moons", "swiss-roll", "8gaussians", "checkerboard")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def option(text: str) -> tuple[str, object]:
    """argparse type: ``NAME=VALUE`` with VALUE read as int, float or str."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    for cast in (int, float):
        try:
            return key.replace("-", "_"), cast(value)
        except ValueError:
            pass
    return key.replace("-", "_"), value


def add_sampler_args(p: argparse.ArgumentParser, *, sampler: str = "ddim", steps: int = 50) -> None:
    """The sampler options every sampling command takes (see :func:`difflab.sample`)."""
    p.add_argument("--sampler", default=sampler, help=f"sampler name (default {sampler}); a wrong name lists them")
    p.add_argument("--steps", type=positive_int, default=steps, help=f"sampler steps (default {steps})")
    p.add_argument("--spacing", default=None, help="grid: trailing, leading, linspace, uniform-t, karras, log-snr")
    p.add_argument("--eta", type=float, default=None, help="DDIM eta (0 deterministic, 1 = DDPM)")
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
    from ..saving import load_model

    denoiser, config = load_model(path)
    if config.get("task") != "toy":
        raise ValueError(f"{path}: this command works on 2-D toy models; the folder holds a {config.get('task')!r} model")
    return denoiser, config, Affine.from_config(config["data"]["transform"])

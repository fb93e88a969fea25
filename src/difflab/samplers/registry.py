"""The sampler registry: name -> sampler function, the grid each gets by default, and
the check of a sampler's own options against its signature."""

from __future__ import annotations

import inspect
import math

from .ddpm import sample_ddim, sample_ddpm
from .dpm_solver import (sample_deis, sample_dpm_adaptive, sample_dpmpp_2m, sample_dpmpp_2m_sde, sample_dpmpp_3m_sde,
                         sample_unipc)
from .edm import sample_euler, sample_heun
from .langevin import sample_langevin
from .lms import sample_lms
from .ode import sample_ode
from .sde import sample_euler_maruyama, sample_pc

__all__ = ["SAMPLERS", "DEFAULT_SPACING", "register", "check_options", "COMMON_ARGUMENTS"]

#: the arguments every sampler function takes; the others are its own options
COMMON_ARGUMENTS = ("denoiser", "x", "sigmas", "cond", "generator", "callback")

#: name -> sampler function. Every entry has the common signature.
SAMPLERS = {
    "ddpm": sample_ddpm,
    "ddim": sample_ddim,
    "euler-maruyama": sample_euler_maruyama,
    "pc": sample_pc,
    "langevin": sample_langevin,
    "ode": sample_ode,
    "euler": sample_euler,
    "heun": sample_heun,
    "lms": sample_lms,
    "dpmpp-2m": sample_dpmpp_2m,
    "dpmpp-2m-sde": sample_dpmpp_2m_sde,
    "dpmpp-3m-sde": sample_dpmpp_3m_sde,
    "deis": sample_deis,
    "unipc": sample_unipc,
    "dpm-adaptive": sample_dpm_adaptive,
}


#: the grid each sampler gets when neither ``spacing`` nor ``sigmas`` is given (others: the
#: schedule's default, see :func:`difflab.grids.make_grid`); chosen by the grid sweep of
#: benchmarks/samplers.py, see docs/samplers.md
DEFAULT_SPACING = {"dpmpp-2m": "tuned", "dpmpp-2m-sde": "tuned", "dpmpp-3m-sde": "tuned", "deis": "tuned", "unipc": "tuned", "lms": "karras"}


def register(name: str, fn) -> None:
    """Make ``fn`` reachable as ``sample(..., sampler=name)``."""
    SAMPLERS[name] = fn


#: the Python types an option's annotation names (the samplers' options are numbers, flags and names)
_OPTION_TYPES = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}


def check_options(name: str, fn, options: dict) -> None:
    """Refuse options ``fn`` does not declare, and values of another type than its
    annotation (``float``, ``int``, ``bool``, ``str``, optionally ``| None``) or NaN."""
    params = inspect.signature(fn).parameters
    allowed = [p for p, v in params.items() if p not in COMMON_ARGUMENTS and v.kind != v.VAR_KEYWORD]
    passes_on = any(v.kind == v.VAR_KEYWORD for v in params.values())  # it checks what it passes on
    unknown = [k for k in options if k not in allowed]
    if unknown and not passes_on:
        valid = ", ".join(allowed) or "none"
        raise ValueError(f"sampler {name!r} has no option {unknown[0]!r}; its options are: {valid}")
    for key, value in options.items():
        if key not in params:
            continue
        kinds = [k.strip() for k in str(params[key].annotation).split("|")]
        if value is None and "None" in kinds:
            continue
        types = tuple(t for k in kinds for t in _OPTION_TYPES.get(k, ()))
        if not types:  # an annotation this check does not read: the sampler checks it
            continue
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if wrong or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"sampler {name!r} option {key} must be {' or '.join(kinds)}, got {value!r}")

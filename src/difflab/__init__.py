"""difflab: diffusion generative models you can read, run on a laptop CPU and scale.

The one view: every forward process is x_t = alpha(t) x_0 + sigma(t) eps
(:mod:`difflab.schedules`); :class:`Denoiser` turns any network into E[x_0 | x_t];
samplers are plain functions over a grid of noise levels, reached through
:func:`sample`.

Attributes are loaded on first use (PEP 562), so ``difflab --help`` and
``import difflab`` cost nothing until the library is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Denoiser": "difflab.denoiser",
    "sample": "difflab.samplers",
    "SAMPLERS": "difflab.samplers",
    "DiscreteSchedule": "difflab.schedules",
    "VPSchedule": "difflab.schedules",
    "SubVPSchedule": "difflab.schedules",
    "VESchedule": "difflab.schedules",
    "GaussianMixture": "difflab.models",
    "load_model": "difflab.io.folders",
    "ImagePipeline": "difflab.pipelines",
    "TextToImagePipeline": "difflab.pipelines",
    "save_model": "difflab.io.folders",
}
_SUBMODULES = {
    "schedules", "processes", "predictions", "denoiser", "grids", "samplers", "losses", "nets",
    "models", "data", "metrics", "train", "viz", "io", "tensors", "likelihood", "guidance", "tasks",
    "masks", "evaluate", "text", "pipelines",
}

__all__ = ["__version__", *_EXPORTS, *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"difflab.{name}")
    else:
        raise AttributeError(f"module 'difflab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

"""Samplers: plain functions ``sample_x(denoiser, x, sigmas, *, cond, generator, callback, **options) -> x``.

``x`` is in scaled coordinates x_t / alpha_t at noise level ``sigmas[0]``; ``sigmas``
is a decreasing grid ending at 0 (:mod:`difflab.grids`); ``denoiser(x, sigma, **cond)``
returns E[x_0 | x]. A multistep method keeps its history in local variables.

:func:`sample` is the one entry point for users: it builds the grid, scales the
starting noise, counts network evaluations and dispatches by name.
"""

from __future__ import annotations

from .ddpm import sample_ddim, sample_ddpm
from .dpm_solver import (sample_deis, sample_dpm_adaptive, sample_dpmpp_2m, sample_dpmpp_2m_sde, sample_dpmpp_3m_sde,
                         sample_unipc)
from .edm import sample_euler, sample_heun
from .langevin import sample_langevin
from .lms import sample_lms
from .ode import sample_ode
from .optimize import GridSearch, optimize_grid
from .registry import DEFAULT_SPACING, SAMPLERS, check_options, register
from .repaint import jump_schedule, sample_repaint
from .run import SampleInfo, model_attribute, model_device, sample
from .sde import sample_euler_maruyama, sample_pc

__all__ = [
    "SAMPLERS",
    "DEFAULT_SPACING",
    "sample",
    "SampleInfo",
    "sample_ddpm",
    "sample_ddim",
    "sample_euler_maruyama",
    "sample_pc",
    "sample_langevin",
    "sample_ode",
    "sample_euler",
    "sample_heun",
    "sample_lms",
    "sample_dpmpp_2m",
    "sample_dpmpp_2m_sde",
    "sample_dpmpp_3m_sde",
    "sample_deis",
    "sample_unipc",
    "sample_dpm_adaptive",
    "sample_repaint",
    "jump_schedule",
    "register",
    "check_options",
    "model_device",
    "model_attribute",
    "optimize_grid",
    "GridSearch",
]

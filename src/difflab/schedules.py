"""Noise schedules: the two functions alpha(t), sigma(t) of the Gaussian path.

Every forward process in difflab is

    x_t = alpha(t) * x_0 + sigma(t) * eps,   eps ~ N(0, I),   t in [0, 1].

A schedule is nothing more than that pair of functions. Everything else (the
log-SNR, SDE drift and diffusion, DDPM's one-step kernel and posterior) is
derived from them in :mod:`difflab.processes`.

Samplers work in the scaled ("variance-exploding") coordinates x / alpha, in
which the same path reads ``x_0 + ve_sigma(t) * eps`` with
``ve_sigma = sigma / alpha`` (Karras et al. 2022, eq. 4 with s(t) = alpha(t)).
``t_from_ve_sigma`` inverts that map so that a sampler's noise level can be
turned back into the time a network was trained on.

All arithmetic is done in float64 and returned in the dtype of the input (a
Python float gives a float64 tensor).
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = [
    "Schedule",
    "DiscreteSchedule",
    "VPSchedule",
    "SubVPSchedule",
    "VESchedule",
    "linear_betas",
    "cosine_betas",
    "scaled_linear_betas",
    "rescale_zero_terminal_snr",
    "schedule_from_config",
    "schedule_preset",
    "SCHEDULES",
    "PRESETS",
]


def _as_time(t: Any) -> tuple[torch.Tensor, torch.dtype]:
    """Return ``t`` as a float64 tensor and the dtype to give results back in."""
    if isinstance(t, torch.Tensor):
        out_dtype = t.dtype if t.is_floating_point() else torch.float64
        return t.to(torch.float64), out_dtype
    return torch.as_tensor(t, dtype=torch.float64), torch.float64


class Schedule:
    """Base class: subclasses define ``_alpha``, ``_sigma`` on float64 tensors.

    Subclasses may override ``_ve_sigma`` and ``_t_from_ve_sigma`` with closed
    forms; the defaults are sigma / alpha and a bisection, so any monotone
    schedule a user writes works with every sampler.
    """

    #: smallest time used for training and continuous-time sampling grids
    t_min: float = 0.0

    # -- the two defining functions -------------------------------------------------
    def _alpha(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _sigma(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _ve_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return self._sigma(t) / self._alpha(t)

    def _t_from_ve_sigma(self, s: torch.Tensor) -> torch.Tensor:
        # Bisection on the monotone map t -> ve_sigma(t); 60 halvings reach float64.
        lo = torch.zeros_like(s)
        hi = torch.ones_like(s)
        for _ in range(60):
            mid = (lo + hi) / 2
            below = self._ve_sigma(mid) < s
            lo = torch.where(below, mid, lo)
            hi = torch.where(below, hi, mid)
        return (lo + hi) / 2

    # -- public API (dtype handling) -------------------------------------------------
    def alpha(self, t):
        """Signal coefficient alpha(t) of x_t = alpha x_0 + sigma eps."""
        t64, dt = _as_time(t)
        return self._alpha(t64).to(dt)

    def sigma(self, t):
        """Noise coefficient sigma(t) of x_t = alpha x_0 + sigma eps."""
        t64, dt = _as_time(t)
        return self._sigma(t64).to(dt)

    def log_snr(self, t):
        """lambda(t) = log(alpha^2 / sigma^2) (Kingma et al. 2021, VDM)."""
        t64, dt = _as_time(t)
        return (-2.0 * torch.log(self._ve_sigma(t64))).to(dt)

    def ve_sigma(self, t):
        """The noise level in scaled coordinates x / alpha: sigma(t) / alpha(t)."""
        t64, dt = _as_time(t)
        return self._ve_sigma(t64).to(dt)

    def t_from_ve_sigma(self, sigma):
        """Inverse of :meth:`ve_sigma`: the time at which sigma/alpha equals ``sigma``."""
        s64, dt = _as_time(sigma)
        return self._t_from_ve_sigma(s64).clamp(0.0, 1.0).to(dt)

    def t_from_log_snr(self, log_snr):
        """Inverse of :meth:`log_snr`."""
        l64, dt = _as_time(log_snr)
        return self._t_from_ve_sigma(torch.exp(-0.5 * l64)).clamp(0.0, 1.0).to(dt)

    @property
    def ve_sigma_max(self) -> float:
        """Noise level sigma/alpha at t = 1, where sampling starts."""
        return float(self._ve_sigma(torch.tensor(1.0, dtype=torch.float64)))

    @property
    def ve_sigma_min(self) -> float:
        """Noise level at ``t_min``, the least noisy level a model was trained on."""
        return float(self._ve_sigma(torch.tensor(self.t_min, dtype=torch.float64)))

    # -- persistence ---------------------------------------------------------------
    def to_config(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "type")
        return f"{type(self).__name__}({args})"


# ----------------------------------------------------------------------------------
# DDPM tables
# ----------------------------------------------------------------------------------


def linear_betas(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, max_beta: float = 0.999) -> torch.Tensor:
    """Linear beta table of Ho et al. 2020 (sec. 4), rescaled so any T keeps
    the same total noise: beta_start, beta_end are quoted for T = 1000. For
    T < 20 the rescaled betas would pass 1; they are clipped at ``max_beta`` (as
    Nichol & Dhariwal clip the cosine table), so every T gives a valid chain."""
    scale = 1000.0 / T
    return torch.linspace(beta_start * scale, beta_end * scale, T, dtype=torch.float64).clamp(max=max_beta)


def scaled_linear_betas(T: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> torch.Tensor:
    """Stable Diffusion's table: linear in sqrt(beta)."""
    return torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float64) ** 2


def cosine_betas(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule of Nichol & Dhariwal 2021, eq. 17:
    alpha_bar(t) = f(t)/f(0), f(t) = cos(((t/T + s)/(1 + s)) pi/2)^2, with
    beta_t = 1 - alpha_bar_t / alpha_bar_{t-1} clipped at ``max_beta``."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are
    Flawed", Algorithm 1: shift and scale sqrt(alpha_bar) so that the last
    entry is exactly 0 (zero terminal SNR) while the first stays unchanged."""
    sqrt_ab = torch.cumprod(1 - betas, 0).sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    alpha_bar = sqrt_ab**2
    alphas = torch.cat([alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]])
    return 1 - alphas


def given_betas(T: int, betas) -> torch.Tensor:
    """A beta table given entry by entry (a checkpoint's own table, e.g. diffusers' ``trained_betas``)."""
    b = torch.as_tensor(betas, dtype=torch.float64)
    if b.shape != (T,):
        raise ValueError(f"a given beta table needs T = {T} entries, got shape {tuple(b.shape)}")
    if not ((b > 0) & (b < 1)).all():
        raise ValueError("every beta of a given table must lie in (0, 1)")
    return b


_BETA_TABLES = {"linear": linear_betas, "cosine": cosine_betas, "scaled-linear": scaled_linear_betas,
                "given": given_betas}

#: Lin et al.'s rescale makes the last alpha_bar exactly 0, an infinite noise level.
#: Samplers need a finite one: the last entry becomes 2**-24 (noise level 4096, the
#: value diffusers also substitutes), or half the one before if that is smaller,
#: indistinguishable from pure noise for any data.
ALPHA_BAR_FLOOR = 2.0**-24


class DiscreteSchedule(Schedule):
    """A DDPM schedule: a table alpha_bar[index], index = 0 .. T-1.

    Index ``i`` sits at time t_i = (i + 1) / T, so t = 1 is the noisiest
    entry and t = 0 is clean data. Between entries the noise level
    ve_sigma = sqrt((1 - alpha_bar) / alpha_bar) is interpolated linearly in
    log(ve_sigma); below the first entry it goes linearly to 0. Any sampler
    may therefore query any t, and a table point maps back to its exact
    index, which is what a network trained on integer indices expects.

    ``kind`` names the beta table (``linear``, ``cosine``, ``scaled-linear``, or
    ``given`` with ``betas=[...]``); ``zero_terminal_snr`` applies
    :func:`rescale_zero_terminal_snr`.
    """

    def __init__(
        self,
        kind: str = "linear",
        T: int = 1000,
        *,
        zero_terminal_snr: bool = False,
        **table_args: float,
    ) -> None:
        if kind not in _BETA_TABLES:
            raise ValueError(f"unknown beta table {kind!r}; expected one of {sorted(_BETA_TABLES)}")
        if int(T) != T or T < 1:
            raise ValueError(f"T must be a positive integer, got {T!r}")
        self.kind, self.T, self.zero_terminal_snr = kind, int(T), bool(zero_terminal_snr)
        self.table_args = dict(table_args)
        betas = _BETA_TABLES[kind](self.T, **table_args)
        if zero_terminal_snr:
            betas = rescale_zero_terminal_snr(betas)
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1 - betas, 0)
        ab = self.alphas_cumprod.clone()
        if ab[-1] <= 0:  # zero terminal SNR: an infinite noise level, replaced by a finite one
            ab[-1] = min(ALPHA_BAR_FLOOR, float(ab[-2]) / 2) if self.T > 1 else ALPHA_BAR_FLOOR
        self._log_sigmas = 0.5 * (torch.log1p(-ab) - torch.log(ab))
        self.t_min = 1.0 / self.T

    # index <-> t -------------------------------------------------------------------
    def t_from_index(self, index):
        """Time of table entry ``index`` (0-based): (index + 1) / T."""
        i64, dt = _as_time(index)
        return ((i64 + 1) / self.T).to(dt)

    def index_from_t(self, t):
        """Fractional table index at time t: t * T - 1 (exact at table points)."""
        t64, dt = _as_time(t)
        return (t64 * self.T - 1).to(dt)

    def ve_sigma_at_index(self, index) -> torch.Tensor:
        """Noise level of table entries (no interpolation), float64."""
        index = torch.as_tensor(index, dtype=torch.long)
        return self._log_sigmas[index].exp()

    # the path ----------------------------------------------------------------------
    def _ve_sigma(self, t):
        u = (t * self.T - 1).clamp(min=0.0, max=self.T - 1)  # fractional index
        lo = u.floor().long().clamp(max=self.T - 2) if self.T > 1 else u.floor().long()
        hi = (lo + 1).clamp(max=self.T - 1)
        w = u - lo.to(u.dtype)
        log_s = torch.lerp(self._log_sigmas[lo], self._log_sigmas[hi], w) if self.T > 1 else self._log_sigmas[lo]
        s = log_s.exp()
        # below the first table entry: linear in sigma down to 0 at t = 0
        s_first = self._log_sigmas[0].exp()
        return torch.where(t < self.t_min, s_first * (t / self.t_min).clamp(min=0.0), s)

    def _alpha(self, t):
        return torch.rsqrt(1 + self._ve_sigma(t) ** 2)

    def _sigma(self, t):
        s = self._ve_sigma(t)
        return s * torch.rsqrt(1 + s**2)

    def _t_from_ve_sigma(self, s):
        log_s = torch.log(s.clamp(min=1e-300))
        ls = self._log_sigmas
        if self.T == 1:
            u = torch.zeros_like(s)
        else:
            hi = torch.searchsorted(ls, log_s.contiguous()).clamp(1, self.T - 1)
            lo = hi - 1
            w = (log_s - ls[lo]) / (ls[hi] - ls[lo])
            u = lo.to(s.dtype) + w.clamp(0.0, 1.0)
        t = (u + 1) / self.T
        s_first = ls[0].exp()
        return torch.where(s < s_first, self.t_min * s / s_first, t)

    def to_config(self) -> dict:
        return {
            "type": "ddpm",
            "kind": self.kind,
            "T": self.T,
            "zero_terminal_snr": self.zero_terminal_snr,
            **self.table_args,
        }


# ----------------------------------------------------------------------------------
# Continuous-time SDE schedules (Song et al. 2021)
# ----------------------------------------------------------------------------------


class VPSchedule(Schedule):
    """Variance-preserving SDE, Song et al. 2021 eq. 11 with
    beta(t) = beta_min + t (beta_max - beta_min):
    alpha(t) = exp(-B(t)/2), sigma(t)^2 = 1 - exp(-B(t)),
    B(t) = int_0^t beta = beta_min t + (beta_max - beta_min) t^2 / 2.
    DDPM's linear table is its discretisation with beta_i = beta(t_i) / T."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-3) -> None:
        if not 0 <= beta_min < beta_max:
            raise ValueError(f"need 0 <= beta_min < beta_max, got {beta_min}, {beta_max}")
        self.beta_min, self.beta_max, self.t_min = float(beta_min), float(beta_max), float(t_min)

    def beta(self, t):
        """beta(t), the VP SDE's rate (its drift is -beta x / 2)."""
        t64, dt = _as_time(t)
        return (self.beta_min + t64 * (self.beta_max - self.beta_min)).to(dt)

    def _B(self, t):
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def _t_from_B(self, B):
        a = 0.5 * (self.beta_max - self.beta_min)
        return 2 * B / (self.beta_min + torch.sqrt(self.beta_min**2 + 4 * a * B))

    def _alpha(self, t):
        return torch.exp(-0.5 * self._B(t))

    def _sigma(self, t):
        return torch.sqrt(-torch.expm1(-self._B(t)))

    def _ve_sigma(self, t):
        return torch.sqrt(torch.expm1(self._B(t)))

    def _t_from_ve_sigma(self, s):
        return self._t_from_B(torch.log1p(s**2))

    def to_config(self) -> dict:
        return {"type": "vp", "beta_min": self.beta_min, "beta_max": self.beta_max, "t_min": self.t_min}


class SubVPSchedule(VPSchedule):
    """Sub-VP SDE, Song et al. 2021 eq. 29: same drift as VP, marginal
    std sigma(t) = 1 - exp(-B(t)), always below the VP one."""

    def _sigma(self, t):
        return -torch.expm1(-self._B(t))

    def _ve_sigma(self, t):
        return -torch.expm1(-self._B(t)) * torch.exp(0.5 * self._B(t))

    def _t_from_ve_sigma(self, s):
        # alpha^2 + s alpha - 1 = 0  ->  alpha = (sqrt(s^2 + 4) - s) / 2
        alpha = 2.0 / (torch.sqrt(s**2 + 4) + s)
        return self._t_from_B(-2 * torch.log(alpha))

    def to_config(self) -> dict:
        return {**super().to_config(), "type": "subvp"}


class VESchedule(Schedule):
    """Variance-exploding SDE (NCSN / SMLD), Song et al. 2021 eq. 9:
    alpha = 1, sigma(t) = sigma_min (sigma_max / sigma_min)^t."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, t_min: float = 1e-5) -> None:
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max, self.t_min = float(sigma_min), float(sigma_max), float(t_min)

    def _alpha(self, t):
        return torch.ones_like(t)

    def _sigma(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    _ve_sigma = _sigma

    def _t_from_ve_sigma(self, s):
        return torch.log(s / self.sigma_min) / math.log(self.sigma_max / self.sigma_min)

    def to_config(self) -> dict:
        return {"type": "ve", "sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "t_min": self.t_min}


SCHEDULES = {"ddpm": DiscreteSchedule, "vp": VPSchedule, "subvp": SubVPSchedule, "ve": VESchedule}


def schedule_from_config(config: dict) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_config`."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule type {kind!r}; expected one of {sorted(SCHEDULES)}")
    return SCHEDULES[kind](**config)


#: the named schedules the command line and the trainers accept (``--schedule NAME``):
#: DDPM tables of T = 1000 (Ho et al. 2020, linear; Nichol & Dhariwal 2021, cosine) and
#: the SDEs of Song et al. 2021 (VP, sub-VP, VE with sigma in [0.01, 10])
PRESETS = {
    "ddpm": {"type": "ddpm", "kind": "linear", "T": 1000},
    "linear": {"type": "ddpm", "kind": "linear", "T": 1000},
    "ddpm-cosine": {"type": "ddpm", "kind": "cosine", "T": 1000},
    "cosine": {"type": "ddpm", "kind": "cosine", "T": 1000},
    "vp": {"type": "vp"},
    "subvp": {"type": "subvp"},
    "ve": {"type": "ve", "sigma_min": 0.01, "sigma_max": 10.0},
}


def schedule_preset(name: str, discrete: bool = False) -> Schedule:
    """The schedule of :data:`PRESETS` called ``name`` (``discrete``: only a DDPM table)."""
    names = [k for k, v in PRESETS.items() if not discrete or v["type"] == "ddpm"]
    if name not in names:
        raise ValueError(f"unknown schedule {name!r}; expected one of: {', '.join(names)}")
    return schedule_from_config(PRESETS[name])

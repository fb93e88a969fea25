"""The Denoiser: the one place where a network's parameterization and time
convention are known.

A network (or any plain function) is called as ``net(x_t, time_input, **cond)``
and predicts one of eps / x0 / v / score (:class:`difflab.predictions.Prediction`)
at the point x_t = alpha(t) x_0 + sigma(t) eps of a schedule. ``Denoiser`` turns
it into a model that answers any of the four at any (x_t, t), and into the
sampler-facing call of Karras et al. 2022 (eq. 2 and sec. 4):

    D(x; sigma) ~ E[x_0 | x]    for x = x_t / alpha(t),  sigma = sigma(t) / alpha(t).

Samplers see only that call; they never ask what the network predicts.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from . import predictions as P
from .schedules import DiscreteSchedule, Schedule
from .tensors import append_dims

__all__ = ["Denoiser", "DenoiserWrapper", "SharedEvaluations", "TIME_INPUTS"]

#: What a network may receive as its noise-level input.
TIME_INPUTS = {
    "t": "continuous time t in [0, 1]",
    "index": "DDPM table index t*T - 1 (0 .. T-1, fractional between entries)",
    "log_snr": "log(alpha^2 / sigma^2)",
    "sigma": "noise level sigma/alpha",
    "c_noise": "log(sigma/alpha) / 4 (Karras et al. 2022, Table 1)",
}


class Denoiser:
    """Wrap ``net(x_t, time_input, **cond) -> prediction`` for a ``schedule``.

    Args:
        net: a ``torch.nn.Module`` or any callable ``f(x_t, time_input, **cond)``.
        schedule: the :class:`~difflab.schedules.Schedule` the network was trained on.
        prediction: ``"eps"``, ``"x0"``, ``"v"`` or ``"score"``.
        time_input: what the network receives as time, one of :data:`TIME_INPUTS`
            (default ``"index"`` for DDPM tables, ``"t"`` otherwise).
        sigma_data: the data's scale sqrt(tr Cov[x_0] / D) where it is known (EDM's
            sigma_data, Karras et al. 2022, sec. 5); samplers' default grids scale with it
            (None: read from the model's first evaluation, see :func:`difflab.samplers.sample`).
        data_dim: the data's effective dimension (tr C)^2 / tr(C^2) where it is known
            (:func:`difflab.grids.data_scale_from_samples` on the training data); the default
            grid's first level stays above the directions the data mostly extends in (None: read
            with sigma_data, else assumed 1 with the first level at 4 sigma_data).

    ``grids`` maps (sampler, steps) to a step grid optimized for this model, ``{"sigmas": grid,
    "options": the sampler options it was optimized with}`` (:func:`difflab.samplers.optimize_grid`,
    stored in the model folder's ``grids.json``); :func:`difflab.samplers.sample` uses it by default.
    """

    def __init__(
        self,
        net: Callable,
        schedule: Schedule,
        prediction: str | P.Prediction = "eps",
        time_input: str | None = None,
        sigma_data: float | None = None,
        data_dim: float | None = None,
    ) -> None:
        if not callable(net):
            raise TypeError(f"net must be callable, got {type(net).__name__}")
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a difflab Schedule, got {type(schedule).__name__}")
        if time_input is None:
            time_input = "index" if isinstance(schedule, DiscreteSchedule) else "t"
        if time_input not in TIME_INPUTS:
            raise ValueError(f"unknown time_input {time_input!r}; expected one of: {', '.join(TIME_INPUTS)}")
        if time_input == "index" and not isinstance(schedule, DiscreteSchedule):
            raise ValueError("time_input='index' needs a DiscreteSchedule (a DDPM table)")
        self.net = net
        self.schedule = schedule
        self.prediction = P.Prediction.parse(prediction)
        self.time_input = time_input
        if sigma_data is not None and not (isinstance(sigma_data, (int, float)) and math.isfinite(sigma_data) and sigma_data > 0):
            raise ValueError(f"sigma_data must be a positive number, got {sigma_data!r}")
        self.sigma_data = None if sigma_data is None else float(sigma_data)
        if data_dim is not None and not (isinstance(data_dim, (int, float)) and math.isfinite(data_dim) and data_dim >= 1):
            raise ValueError(f"data_dim must be a number >= 1, got {data_dim!r}")
        self.data_dim = None if data_dim is None else float(data_dim)
        self.grids: dict[tuple[str, int], dict] = {}
        self._compiled = None  # (net, its compiled forward), set by compile()

    def compile(self, *, mode: str | None = None) -> "Denoiser":
        """Run the network through ``torch.compile`` from now on (:func:`difflab.compiler.compiled`:
        eager, with a one-line warning, where this machine cannot compile). ``self.net``
        stays the network itself, so saving is unchanged. Returns ``self``."""
        from .compiler import compiled

        if not isinstance(self.net, torch.nn.Module):
            raise TypeError(f"only an nn.Module network can be compiled, not a {type(self.net).__name__}")
        self._compiled = (self.net, compiled(self.net, mode=mode))
        return self

    def _forward(self):
        """The network's forward: its compiled form when :meth:`compile` compiled this very network."""
        pair = getattr(self, "_compiled", None)
        if pair is not None and pair[0] is self.net:
            return pair[1]
        return self.net

    # -- time ---------------------------------------------------------------------
    def time_features(self, t: torch.Tensor) -> torch.Tensor:
        """The network's time input for times ``t`` (float64 in, float64 out)."""
        s = self.schedule
        if self.time_input == "t":
            return t
        if self.time_input == "index":
            return s.index_from_t(t)
        if self.time_input == "log_snr":
            return s.log_snr(t)
        sig = s.ve_sigma(t)
        return sig if self.time_input == "sigma" else torch.log(sig) / 4

    def _times(self, t, x: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64, device="cpu" if not isinstance(t, torch.Tensor) else t.device)
        t = t.to(torch.float64)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must be a scalar or have shape ({x.shape[0]},), got {tuple(t.shape)}")
        return t

    # -- the network's own output ----------------------------------------------------
    def net_output(self, x_t: torch.Tensor, t, **cond) -> torch.Tensor:
        """Raw network output at (x_t, t), in the model's own parameterization."""
        t = self._times(t, x_t)
        # float32 at least: a bf16 DDPM index would round 999 to 1000
        dtype = torch.promote_types(x_t.dtype, torch.float32) if x_t.is_floating_point() else torch.float32
        feats = self.time_features(t).to(device=x_t.device, dtype=dtype)
        # a float32 network may be driven by a float64 sampler: cast in, and the output back
        net_dtype = self._net_dtype()
        out = self._forward()(x_t if net_dtype is None else x_t.to(net_dtype), feats, **cond)
        if out.shape != x_t.shape:
            raise ValueError(f"network returned shape {tuple(out.shape)} for input {tuple(x_t.shape)}")
        return out.to(x_t.dtype)

    def _net_dtype(self) -> torch.dtype | None:
        if isinstance(self.net, torch.nn.Module):
            for p in self.net.parameters():
                return p.dtype
        return None

    def predict(self, x_t: torch.Tensor, t, kind: str | P.Prediction = "x0", **cond) -> torch.Tensor:
        """The model's prediction of type ``kind`` (eps, x0, v, score) at (x_t, t)."""
        t = self._times(t, x_t)
        out = self.net_output(x_t, t, **cond)
        a = append_dims(self.schedule.alpha(t), x_t.ndim).to(x_t)
        s = append_dims(self.schedule.sigma(t), x_t.ndim).to(x_t)
        return P.convert(out, self.prediction, kind, x_t, a, s)

    def x0(self, x_t, t, **cond):
        """E[x_0 | x_t] as predicted by the model."""
        return self.predict(x_t, t, "x0", **cond)

    def eps(self, x_t, t, **cond):
        """E[eps | x_t] as predicted by the model."""
        return self.predict(x_t, t, "eps", **cond)

    def v(self, x_t, t, **cond):
        """v = alpha eps - sigma x0 as predicted by the model."""
        return self.predict(x_t, t, "v", **cond)

    def score(self, x_t, t, **cond):
        """grad log p_t(x_t) as predicted by the model."""
        return self.predict(x_t, t, "score", **cond)

    # -- the sampler's view -----------------------------------------------------------
    def __call__(self, x: torch.Tensor, sigma, **cond) -> torch.Tensor:
        """D(x; sigma): E[x_0 | x] in scaled coordinates x = x_t / alpha, sigma = sigma_t / alpha_t."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        t = self.schedule.t_from_ve_sigma(sigma.cpu()).to(sigma.device)
        a = append_dims(self.schedule.alpha(t), x.ndim).to(x)
        return self.x0(x * a, t, **cond)

    def train(self, mode: bool = True) -> "Denoiser":
        if isinstance(self.net, torch.nn.Module):
            self.net.train(mode)
        return self

    def eval(self) -> "Denoiser":
        return self.train(False)

    def __repr__(self) -> str:
        return (
            f"Denoiser(net={type(self.net).__name__}, schedule={self.schedule!r}, "
            f"prediction={self.prediction.value!r}, time_input={self.time_input!r})"
        )


class DenoiserWrapper:
    """Base of a denoiser that changes how ``self.denoiser`` is called (a style reference, a
    learned style switched off): what samplers and guidance look at, its ``schedule`` and
    ``net``, is the wrapped denoiser's."""

    def __init__(self, denoiser) -> None:
        self.denoiser = denoiser

    @property
    def schedule(self):
        return self.denoiser.schedule

    @property
    def net(self):
        return getattr(self.denoiser, "net", None)

    def train(self, mode: bool = True):
        if hasattr(self.denoiser, "train"):
            self.denoiser.train(mode)
        return self

    def eval(self):
        return self.train(False)


def _one_level(sigma) -> float | None:
    """The noise level of a call as a float where every sample has the same one, else None (in
    float64, as :func:`difflab.guidance.at_or_below` reads it)."""
    s = torch.as_tensor(sigma, dtype=torch.float64).detach().cpu().reshape(-1)
    if s.numel() == 0 or not bool((s == s[0]).all()):
        return None
    return float(s[0])


class SharedEvaluations:
    """Evaluations two runs share: the first run that :meth:`wrap`\\ s its denoiser records every
    evaluation made above the noise level ``above`` (x, sigma and D, copied); every later run's
    wrapped denoiser returns a recorded D where it is called at the same sigma with x equal bit for
    bit, and evaluates otherwise (``hits`` counts what it was spared).

    Sound only where the two runs' denoisers are the same function above that level: a style that
    acts only below a noise level and the same prompt without it (keep_colours: the styled run and
    the unstyled one that lends its hue follow one path down to the style's level, so the second
    run evaluates only below it). A deterministic sampler from the same noise reaches the same x
    at every shared level, so each replayed D is the one the second run would have computed, and
    its result is the result of the run alone."""

    def __init__(self) -> None:
        self._kept: dict[float, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self._recorded = False

    def wrap(self, denoiser, above: float | None = None):
        """``denoiser`` recording above ``above`` (the first call; None: records nothing) or
        replaying (every later call)."""
        if self._recorded:
            return _Replaying(denoiser, self._kept)
        self._recorded = True
        return _Recording(denoiser, self._kept, math.inf if above is None else float(above))


class _Recording(DenoiserWrapper):
    def __init__(self, denoiser, kept: dict, above: float) -> None:
        super().__init__(denoiser)
        self.kept, self.above, self.hits = kept, above, 0

    def __call__(self, x, sigma, **cond):
        d = self.denoiser(x, sigma, **cond)
        level = _one_level(sigma)
        if level is not None and level > self.above:
            self.kept.setdefault(level, []).append((x.detach().clone(), d.detach().clone()))
        return d


class _Replaying(DenoiserWrapper):
    def __init__(self, denoiser, kept: dict) -> None:
        super().__init__(denoiser)
        self.kept, self.hits = kept, 0

    def __call__(self, x, sigma, **cond):
        for kept_x, kept_d in self.kept.get(_one_level(sigma), ()):
            if kept_x.shape == x.shape and kept_x.device == x.device and torch.equal(kept_x, x):
                self.hits += 1
                return kept_d.clone()
        return self.denoiser(x, sigma, **cond)

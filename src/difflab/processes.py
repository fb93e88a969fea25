"""The forward process, derived once from a schedule's alpha(t) and sigma(t).

Notation (Kingma et al. 2021, "Variational Diffusion Models", sec. 2 and app. A):
for s < t,

    q(x_t | x_0)   = N(alpha_t x_0, sigma_t^2 I)                       (marginal)
    q(x_t | x_s)   = N(alpha_{t|s} x_s, sigma_{t|s}^2 I),               (one-step chain)
                     alpha_{t|s} = alpha_t / alpha_s,
                     sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2
    q(x_s | x_t, x_0) = N(mu, sigma_Q^2 I),                             (posterior)
                     mu = alpha_{t|s} sigma_s^2 / sigma_t^2 x_t + alpha_s sigma_{t|s}^2 / sigma_t^2 x_0
                     sigma_Q^2 = sigma_{t|s}^2 sigma_s^2 / sigma_t^2

With s = t - 1/T on a DDPM table these are Ho et al. 2020 eqs. 2, 4, 6-7
(alpha_{t|s}^2 = 1 - beta_t). The SDE view (Song et al. 2021, eq. 5) uses

    f(t) = d log alpha / dt,      g(t)^2 = d sigma^2 / dt - 2 f(t) sigma^2,

obtained here by automatic differentiation of the schedule, so every schedule
(even one a user writes) has an SDE and a probability-flow ODE (eq. 13); its
reverse SDE (eq. 6) is integrated in the sigma coordinates of :mod:`difflab.samplers.sde`.
"""

from __future__ import annotations

import math

import torch

from .schedules import Schedule
from .tensors import append_dims, randn

__all__ = [
    "marginal",
    "q_sample",
    "transition",
    "posterior",
    "drift_coefficient",
    "diffusion_squared",
    "sde_drift",
    "probability_flow_drift",
    "prior_std",
    "prior_sample",
    "prior_log_prob",
]


def _coeffs(schedule: Schedule, t, like: torch.Tensor):
    t = torch.as_tensor(t, dtype=torch.float64)
    a = append_dims(schedule.alpha(t), like.ndim).to(like)
    s = append_dims(schedule.sigma(t), like.ndim).to(like)
    return a, s


def marginal(schedule: Schedule, x0: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of q(x_t | x_0) = N(alpha_t x_0, sigma_t^2 I)."""
    a, s = _coeffs(schedule, t, x0)
    return a * x0, s.expand_as(x0)


def q_sample(schedule: Schedule, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """Draw x_t = alpha_t x_0 + sigma_t eps for given noise eps (Ho et al. eq. 4)."""
    a, s = _coeffs(schedule, t, x0)
    return a * x0 + s * noise


def _pair(schedule: Schedule, s, t, like: torch.Tensor):
    a_s, sig_s = _coeffs(schedule, s, like)
    a_t, sig_t = _coeffs(schedule, t, like)
    a_ts = a_t / a_s
    var_ts = sig_t**2 - a_ts**2 * sig_s**2
    return a_s, sig_s, a_t, sig_t, a_ts, var_ts.clamp(min=0)


def transition(schedule: Schedule, x_s: torch.Tensor, s, t) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the one-step chain q(x_t | x_s), s < t
    (Ho et al. eq. 2 when s = t - 1/T: mean sqrt(1 - beta_t) x_{t-1}, variance beta_t)."""
    _, _, _, _, a_ts, var_ts = _pair(schedule, s, t, x_s)
    return a_ts * x_s, var_ts.sqrt().expand_as(x_s)


def posterior(schedule: Schedule, x_t: torch.Tensor, x0: torch.Tensor, s, t) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the posterior q(x_s | x_t, x_0), s < t (Ho et al. eqs. 6-7)."""
    a_s, sig_s, _, sig_t, a_ts, var_ts = _pair(schedule, s, t, x_t)
    mean = (a_ts * sig_s**2 / sig_t**2) * x_t + (a_s * var_ts / sig_t**2) * x0
    std = (var_ts * sig_s**2 / sig_t**2).sqrt()
    return mean, std.expand_as(x_t)


# ----------------------------------------------------------------------------------
# SDE view
# ----------------------------------------------------------------------------------


def _derivative(fn, t: torch.Tensor) -> torch.Tensor:
    """d fn(t) / dt elementwise by automatic differentiation (0 where fn ignores t)."""
    t = t.detach().requires_grad_(True)
    with torch.enable_grad():
        y = fn(t)
        if not y.requires_grad:
            return torch.zeros_like(t).detach()
        (dy,) = torch.autograd.grad(y.sum(), t)
    return dy.detach()


def _derivatives(schedule: Schedule, t):
    t = torch.as_tensor(t, dtype=torch.float64)
    f = _derivative(lambda u: torch.log(schedule.alpha(u)), t)
    dvar = _derivative(lambda u: schedule.sigma(u) ** 2, t)
    return f, dvar, schedule.sigma(t) ** 2


def drift_coefficient(schedule: Schedule, t) -> torch.Tensor:
    """f(t) = d log alpha(t) / dt, so that the forward SDE's drift is f(t) x."""
    return _derivatives(schedule, t)[0]


def diffusion_squared(schedule: Schedule, t) -> torch.Tensor:
    """g(t)^2 = d sigma^2/dt - 2 f(t) sigma^2 (Kingma et al. 2021, app. A; Song et al. 2021)."""
    f, dvar, var = _derivatives(schedule, t)
    return (dvar - 2 * f * var).clamp(min=0)


def sde_drift(schedule: Schedule, x: torch.Tensor, t) -> torch.Tensor:
    """Forward SDE drift f(t) x of dx = f(t) x dt + g(t) dw."""
    return append_dims(drift_coefficient(schedule, t), x.ndim).to(x) * x


def probability_flow_drift(schedule: Schedule, x: torch.Tensor, t, score: torch.Tensor) -> torch.Tensor:
    """Probability-flow ODE, Song et al. 2021 eq. 13:
    dx/dt = f(t) x - g(t)^2 / 2 grad log p_t(x)."""
    g2 = append_dims(diffusion_squared(schedule, t), x.ndim).to(x)
    return sde_drift(schedule, x, t) - 0.5 * g2 * score


# ----------------------------------------------------------------------------------
# Prior p_1 = N(0, prior_std^2 I)
# ----------------------------------------------------------------------------------


def prior_std(schedule: Schedule, t: float = 1.0) -> float:
    """Std of the prior at time t: the marginal of unit-variance data,
    sqrt(alpha^2 + sigma^2). It is 1 for VP and sub-VP (up to e^-B), and
    sqrt(1 + sigma_max^2) for VE, the N(0, I) and N(0, sigma_max^2 I) priors
    of Song et al. 2021 (app. C) up to the data's own variance."""
    a, s = float(schedule.alpha(t)), float(schedule.sigma(t))
    return math.sqrt(a * a + s * s)


def prior_sample(schedule: Schedule, shape, generator=None, device=None) -> torch.Tensor:
    """x_1 ~ N(0, prior_std^2 I), noise drawn per sample (see :func:`difflab.tensors.randn`)."""
    return prior_std(schedule) * randn(shape, generator=generator, device=device)


def prior_log_prob(schedule: Schedule, x: torch.Tensor) -> torch.Tensor:
    """log N(x; 0, prior_std^2 I), summed over all but the batch dimension."""
    std = prior_std(schedule)
    d = x[0].numel()
    sq = x.reshape(x.shape[0], -1).pow(2).sum(1)
    return -0.5 * sq / std**2 - d * math.log(std) - 0.5 * d * math.log(2 * math.pi)

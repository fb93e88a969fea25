"""Denoising losses: one function for every prediction type and weighting.

Ho et al. 2020's simplified objective (eq. 14) is

    L_simple = E_{t, x0, eps} || eps - eps_theta(alpha_t x0 + sigma_t eps, t) ||^2,

with t uniform over the table. Training a model to predict x0 or
v = alpha eps - sigma x0 (Salimans & Ho 2022) is the same objective with the
target swapped; denoising score matching (Vincent 2011; Song & Ermon 2019
eq. 2) is the score target -eps / sigma with the weighting lambda = sigma^2.

Continuous-time score matching (Song et al. 2021, eq. 7) weights the score error
by lambda(t); the *likelihood weighting* lambda(t) = g(t)^2 makes the loss an upper
bound on the negative log-likelihood (Song, Durkan, Murray & Ermon 2021, thm. 1).
Its variance is reduced by drawing t with density proportional to g(t)^2 / sigma(t)^2
(importance sampling, same paper, sec. 5.1), which :func:`sample_t` does for any
schedule by inverting the CDF numerically.

*Min-SNR-gamma* weighting (Hang et al. 2023, "Efficient Diffusion Training via
Min-SNR Weighting Strategy", eq. 10) weights the x0 error by min(SNR(t), gamma) with
SNR = alpha^2 / sigma^2 and gamma = 5: the low-noise times, whose x0 error is tiny
and whose gradients conflict with the rest, stop dominating. In the prediction's own
space the weight is min(SNR, gamma) |dx0/dpred|^2: min(SNR, gamma) / SNR for eps,
min(SNR, gamma) / (SNR + 1) for v on a variance-preserving table.

The training times need not be uniform. Two published densities put the training where
samples are decided, both Gaussians in the log-SNR lambda = log(alpha^2 / sigma^2):

- ``edm``: Karras et al. 2022 (EDM, Table 1) draw ln sigma ~ N(P_mean = -1.2, P_std = 1.2)
  for data of standard deviation 0.5, i.e. lambda ~ N(2.4, 2.4^2);
- ``logit-normal``: Esser et al. 2024 (Stable Diffusion 3, eq. 19) draw the rectified-flow
  time t ~ logit-normal(0, 1), where sigma/alpha = t / (1 - t), i.e. lambda ~ N(0, 2^2).

:func:`sample_t` maps a drawn lambda to the schedule's time (on a DDPM table: to the nearest
entry, the integer indices the network knows); the weighting is applied on top, unchanged.

The loss never asks which network it trains: the :class:`~difflab.Denoiser`
knows its prediction type and :func:`difflab.predictions.target` builds the target.
"""

from __future__ import annotations

from typing import Callable, Union

import torch

from . import predictions as P
from .processes import diffusion_squared
from .schedules import DiscreteSchedule, Schedule
from .tensors import append_dims

__all__ = ["sample_t", "denoising_loss", "WEIGHTINGS", "score_scale", "T_SAMPLING", "check_objective", "MIN_SNR_GAMMA",
           "contrastive_loss", "LOG_SNR_NORMAL"]

#: how training times are drawn: uniform, importance-sampled for the likelihood weighting, or
#: Gaussian in log-SNR (mean, standard deviation; module docstring)
T_SAMPLING = ("uniform", "likelihood", "edm", "logit-normal")
LOG_SNR_NORMAL = {"edm": (2.4, 2.4), "logit-normal": (0.0, 2.0)}

Weighting = Union[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]

#: weightings lambda(alpha, sigma) by name, applied to the per-sample squared error
WEIGHTINGS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "simple": lambda alpha, sigma: torch.ones_like(sigma),
    # NCSN / denoising score matching: lambda(sigma) = sigma^2 (Song & Ermon 2019, sec. 4.2)
    "sigma2": lambda alpha, sigma: sigma**2,
}


def _importance_grid(schedule: Schedule, n_grid: int = 4096):
    """Times, and the CDF of the density proportional to g(t)^2 / sigma(t)^2 on [t_min, 1].
    Computed once per schedule (schedules do not change after construction)."""
    cached = schedule.__dict__.get("_importance_grid")
    if cached is None:
        cached = schedule.__dict__["_importance_grid"] = _build_importance_grid(schedule, n_grid)
    return cached


def _build_importance_grid(schedule: Schedule, n_grid: int):
    t = torch.linspace(schedule.t_min, 1.0, n_grid, dtype=torch.float64)
    density = diffusion_squared(schedule, t) / schedule.sigma(t) ** 2
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum((density[1:] + density[:-1]) / 2 * (t[1:] - t[:-1]), 0)])
    return t, density, cdf


def check_objective(weighting=None, t_sampling: str = "uniform") -> None:
    """Refuse an unknown weighting or t sampling up front (before any training starts)."""
    names = [*WEIGHTINGS, "likelihood", "min-snr"]
    if weighting is not None and not callable(weighting) and weighting not in names:
        raise ValueError(f"unknown weighting {weighting!r}; expected one of: {', '.join(names)}")
    if t_sampling not in T_SAMPLING:
        raise ValueError(f"unknown t sampling {t_sampling!r}; expected one of: {', '.join(T_SAMPLING)}")


def sample_t(schedule: Schedule, n: int, generator: torch.Generator | None = None, *,
             sampling: str = "uniform", levels: int | None = None) -> torch.Tensor:
    """Training times (float64).

    ``uniform``: uniform over table entries for a DDPM table (Ho et al. Algorithm 1),
    uniform on [t_min, 1] for continuous schedules; with ``levels`` = L, uniform over L
    equally spaced times, which on a VE schedule is NCSN's geometric set of noise levels
    (Song & Ermon 2019, sec. 4.2). ``likelihood``: density proportional to g(t)^2 / sigma(t)^2
    (Song, Durkan, Murray & Ermon 2021, sec. 5.1); pair it with ``weighting="likelihood"``.
    ``edm`` / ``logit-normal``: lambda(t) ~ N(mean, std^2) of :data:`LOG_SNR_NORMAL` (module
    docstring), clamped to the schedule's range; on a DDPM table, the nearest entry.
    """
    if sampling not in T_SAMPLING:
        raise ValueError(f"unknown t sampling {sampling!r}; expected one of: {', '.join(T_SAMPLING)}")
    if sampling == "likelihood":
        t, _, cdf = _importance_grid(schedule)
        u = torch.rand(n, generator=generator, dtype=torch.float64) * cdf[-1]
        i = torch.searchsorted(cdf, u).clamp(1, len(t) - 1)
        w = (u - cdf[i - 1]) / (cdf[i] - cdf[i - 1])
        return torch.lerp(t[i - 1], t[i], w)
    if sampling in LOG_SNR_NORMAL:
        mean, std = LOG_SNR_NORMAL[sampling]
        lam = mean + std * torch.randn(n, generator=generator, dtype=torch.float64)
        t = schedule.t_from_log_snr(lam).clamp(schedule.t_min, 1.0)
        if isinstance(schedule, DiscreteSchedule):
            index = schedule.index_from_t(t).round().clamp(0, schedule.T - 1)
            return schedule.t_from_index(index)
        return t
    if levels is not None:
        if levels < 1:
            raise ValueError(f"levels must be a positive integer, got {levels}")
        grid = torch.linspace(schedule.t_min, 1.0, levels, dtype=torch.float64) if levels > 1 else torch.ones(1, dtype=torch.float64)
        return grid[torch.randint(0, levels, (n,), generator=generator)]
    if isinstance(schedule, DiscreteSchedule):
        index = torch.randint(0, schedule.T, (n,), generator=generator)
        return schedule.t_from_index(index.to(torch.float64))
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return schedule.t_min + (1 - schedule.t_min) * u


def score_scale(kind, alpha: torch.Tensor, sigma: torch.Tensor, to: str = "score") -> torch.Tensor:
    """|d score / d prediction|: an error e in a prediction of type ``kind`` is an error
    score_scale * e in the score (all conversions are affine in the prediction); ``to``
    another prediction type (e.g. "x0") gives the scale into that one."""
    zero = torch.zeros_like(sigma)
    return (P.convert(torch.ones_like(sigma), kind, to, zero, alpha, sigma)
            - P.convert(zero, kind, to, zero, alpha, sigma)).abs()


#: gamma of the min-SNR weighting (Hang et al. 2023, sec. 4: 5 works across their settings)
MIN_SNR_GAMMA = 5.0


def denoising_loss(
    denoiser,
    x0: torch.Tensor,
    *,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    weighting: Weighting | None = None,
    t_sampling: str = "uniform",
    cond: dict | None = None,
) -> torch.Tensor:
    """Mean over the batch of lambda(t) * mean_dims || target - net(x_t, t) ||^2.

    The target is the denoiser's own prediction type (eps, x0, v or score).
    ``weighting`` is a name in :data:`WEIGHTINGS`, ``"likelihood"``, or a function of
    (alpha, sigma); the default is ``"simple"``, except for score models where it is
    ``"sigma2"`` (without it the score target -eps/sigma explodes at small sigma).
    ``"min-snr"`` weights the x0 error by min(SNR, 5) (module docstring).
    ``"likelihood"`` is lambda(t) = g(t)^2 on the score error (converted to the
    prediction's own space); with ``t_sampling="likelihood"`` the times are drawn
    proportional to g^2/sigma^2 and the weight divided by that density (the estimator
    stays unbiased, its variance drops).
    """
    n = x0.shape[0]
    if t is None:
        t = sample_t(denoiser.schedule, n, generator, sampling=t_sampling)
    t = torch.as_tensor(t, dtype=torch.float64).cpu()
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32).to(x0)
    alpha = append_dims(denoiser.schedule.alpha(t), x0.ndim).to(x0)
    sigma = append_dims(denoiser.schedule.sigma(t), x0.ndim).to(x0)
    x_t = alpha * x0 + sigma * noise
    out = denoiser.net_output(x_t, t, **(cond or {}))
    tgt = P.target(denoiser.prediction, x0, noise, alpha, sigma)
    per_sample = (out.float() - tgt.float()).pow(2).reshape(n, -1).mean(1)
    if weighting is None:
        weighting = "sigma2" if denoiser.prediction is P.Prediction.SCORE else "simple"
    if weighting in ("likelihood", "min-snr"):  # weights of another space's error, carried into the prediction's
        a1, s1 = alpha.reshape(n, -1)[:, 0].double(), sigma.reshape(n, -1)[:, 0].double()
        if weighting == "min-snr":
            w = (a1**2 / s1**2).clamp(max=MIN_SNR_GAMMA) * score_scale(denoiser.prediction, a1, s1, to="x0") ** 2
        else:
            w = diffusion_squared(denoiser.schedule, t) * score_scale(denoiser.prediction, a1, s1) ** 2
            if t_sampling == "likelihood":
                _, density, cdf = _importance_grid(denoiser.schedule)
                w = w / (diffusion_squared(denoiser.schedule, t) / denoiser.schedule.sigma(t) ** 2 / cdf[-1])
        return (w.float().to(per_sample.device) * per_sample).mean()
    if isinstance(weighting, str):
        check_objective(weighting)
        weighting = WEIGHTINGS[weighting]
    w = weighting(alpha.reshape(n, -1)[:, 0], sigma.reshape(n, -1)[:, 0]).float()
    return (w * per_sample).mean()


def contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor | float,
                     positives: torch.Tensor | None = None) -> torch.Tensor:
    """The symmetric InfoNCE loss of CLIP (Radford et al. 2021, fig. 3; van den Oord et al. 2018).

    With unit-length image and text embeddings u_i, w_j of N pairs and inverse
    temperature s, the logits are ``l_ij = s <u_i, w_j>`` and the loss is the mean of the
    image-to-text and the text-to-image cross-entropies,

        L = 1/2 [ -1/N sum_i sum_j p_ij log softmax_j(l_ij)  -  1/N sum_j sum_i p_ij log softmax_i(l_ij) ],

    where the target p_ij is 1 for the true pair (i = j). ``positives`` (N, N) bool marks
    further pairs that are equally right (the same caption text, or the same image drawn
    twice): the target of row i (column j) is then uniform over its positives, so a
    batch never teaches that a correct caption is wrong. The diagonal is always positive.
    """
    if image_emb.ndim != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"image and text embeddings must both have shape (N, D), got {tuple(image_emb.shape)} "
                         f"and {tuple(text_emb.shape)}")
    n = image_emb.shape[0]
    logits = scale * image_emb.float() @ text_emb.float().T
    eye = torch.eye(n, dtype=torch.bool, device=logits.device)
    if positives is None:
        target = eye.float()
    else:
        if positives.shape != (n, n):
            raise ValueError(f"positives must have shape ({n}, {n}), got {tuple(positives.shape)}")
        target = (positives.to(logits.device).bool() | eye).float()
    rows = -(target / target.sum(1, keepdim=True) * torch.log_softmax(logits, 1)).sum(1).mean()
    cols = -(target / target.sum(0, keepdim=True) * torch.log_softmax(logits, 0)).sum(0).mean()
    return (rows + cols) / 2

"""The reverse SDE: Euler-Maruyama, reverse diffusion, and predictor-corrector.

In scaled coordinates x = x_t / alpha_t every forward process is the same
variance-exploding SDE (Song et al. 2021, eq. 9; Karras et al. 2022, eq. 4),

    dx = sqrt(d sigma^2 / dt) dw,

whose reverse-time SDE (Song et al. 2021, eq. 6; Anderson 1982) is

    dx = -(d sigma^2 / dt) grad log p(x; sigma) dt + sqrt(d sigma^2 / dt) dw-bar,
    grad log p(x; sigma) = (D(x; sigma) - x) / sigma^2              (Tweedie / Vincent 2011).

A step from a grid level ``sigma`` to the next one ``sigma_next`` is a
*predictor*; an MCMC move that leaves p(x; sigma) invariant is a *corrector*
(Song et al. 2021, sec. 4.2 and app. G). Both are small functions held in the
registries :data:`PREDICTORS` and :data:`CORRECTORS`, and :func:`sample_pc`
combines any predictor with any corrector. The last step of every sampler
here, to sigma = 0, is the denoising step x = D(x; sigma_min) (Song et al.
2021, app. G "denoising"; Jolicoeur-Martineau et al. 2021), which is also what
a reverse-SDE step with no noise left would converge to.
"""

from __future__ import annotations

import math

import torch

from ..tensors import append_dims, randn
from ._common import Callback, report

__all__ = [
    "sample_euler_maruyama",
    "sample_pc",
    "euler_maruyama_step",
    "reverse_diffusion_step",
    "langevin_corrector",
    "no_corrector",
    "score_from_x0",
    "PREDICTORS",
    "CORRECTORS",
]


def _noise(x: torch.Tensor, generator) -> torch.Tensor:
    return randn(x.shape, generator, device=x.device, dtype=x.dtype)


def score_from_x0(x: torch.Tensor, x0: torch.Tensor, sigma: float) -> torch.Tensor:
    """The score in scaled coordinates, grad log p(x; sigma) = (x0 - x) / sigma^2."""
    return (x0 - x) / sigma**2


# ----------------------------------------------------------------------------------
# Predictors: (x, x0 = D(x; sigma), sigma, sigma_next, generator) -> x at sigma_next
# ----------------------------------------------------------------------------------


def euler_maruyama_step(x: torch.Tensor, x0: torch.Tensor, sigma: float, sigma_next: float, generator=None) -> torch.Tensor:
    """One Euler-Maruyama step of the reverse SDE in scaled coordinates.

    With the time variable u = sigma^2 the forward SDE is dx = dw_u, so the
    Euler-Maruyama step (Song et al. 2021, sec. 4.1) of the reverse SDE (eq. 6)
    from sigma to sigma' < sigma is

        x' = x + (sigma^2 - sigma'^2) grad log p(x; sigma) + sqrt(sigma^2 - sigma'^2) z,   z ~ N(0, I),

    which is also Song et al. 2021's reverse-diffusion predictor for the VE SDE
    (app. E, eqs. 45-47, the SMLD case). To sigma' = 0 the step is the denoising step x' = x0.
    """
    if sigma_next == 0:
        return x0
    dvar = sigma**2 - sigma_next**2
    return x + dvar * score_from_x0(x, x0, sigma) + math.sqrt(dvar) * _noise(x, generator)


def reverse_diffusion_step(x: torch.Tensor, x0: torch.Tensor, sigma: float, sigma_next: float, generator=None) -> torch.Tensor:
    """Song et al. 2021's reverse-diffusion predictor for the VP SDE (app. E, eqs. 45-47,
    the DDPM case),

        y' = (2 - sqrt(1 - beta)) y + beta grad_y log p(y) + sqrt(beta) z,

    written for the variance-preserving view y = x / sqrt(1 + sigma^2) of the
    scaled process, whose forward chain between the two levels is
    y = sqrt(1 - beta) y' + sqrt(beta) z with a := sqrt(1 - beta) =
    sqrt((1 + sigma'^2) / (1 + sigma^2)). Mapped back to scaled coordinates
    (grad_y log p = sqrt(1 + sigma^2) grad_x log p, and 1 - a^2 = (sigma^2 - sigma'^2) / (1 + sigma^2)):

        x' = a [(2 - a) x + (sigma^2 - sigma'^2) grad log p(x; sigma) + sqrt(sigma^2 - sigma'^2) z].

    The choice of coordinates belongs to the sampler, not the model, so this
    works for any schedule; a -> 1 gives back :func:`euler_maruyama_step`
    (the SMLD / VE case). To sigma' = 0 the step is the denoising step x' = x0.
    """
    if sigma_next == 0:
        return x0
    dvar = sigma**2 - sigma_next**2
    a = math.sqrt((1 + sigma_next**2) / (1 + sigma**2))
    drift = (2 - a) * x + dvar * score_from_x0(x, x0, sigma)
    return a * (drift + math.sqrt(dvar) * _noise(x, generator))


#: name -> predictor step ``(x, x0, sigma, sigma_next, generator) -> x_next``.
PREDICTORS = {
    "euler-maruyama": euler_maruyama_step,
    "reverse-diffusion": reverse_diffusion_step,
}


# ----------------------------------------------------------------------------------
# Correctors: (denoiser, x, sigma, cond, generator, snr, steps) -> x at the same sigma
# ----------------------------------------------------------------------------------


def _per_sample_norm(v: torch.Tensor) -> torch.Tensor:
    return append_dims(v.reshape(v.shape[0], -1).norm(dim=1), v.ndim)


def langevin_corrector(
    denoiser,
    x: torch.Tensor,
    sigma: float,
    *,
    cond: dict,
    generator=None,
    snr: float = 0.16,
    steps: int = 1,
    snr_norms: str = "sigma",
) -> torch.Tensor:
    """Langevin MCMC at a fixed noise level, Song et al. 2021, Algorithm 4 (VE) / 5 (VP):

        g   = grad log p(x; sigma) = (D(x; sigma) - x) / sigma^2,   z ~ N(0, I)
        eps = 2 (r ||z|| / ||g||)^2
        x  <- x + eps g + sqrt(2 eps) z,                             ``steps`` times,

    with the signal-to-noise ratio r = ``snr``. One evaluation per step.

    ``snr_norms`` says over what the norms are taken:

    * ``"sigma"`` (default): the norms' typical values, ||z|| ~ sqrt(D) and
      ||g|| ~ sqrt(D) / sigma (E||grad log p(x; sigma)||^2 = D / sigma^2 for data
      much narrower than sigma), so eps = 2 (r sigma)^2: per sample, batch
      independent, and stable in any dimension (no division by a small ||g||).
    * ``"sample"``: per sample, so a batch of N equals N batches of
      one. In high dimension ||z|| and ||g|| concentrate and this is the
      paper's rule; in very low dimension (2-D toy data) the ratio
      ||z|| / ||g|| is heavy-tailed (||g|| comes near 0 close to modes and
      saddles) and rare huge steps throw samples far away.
    * ``"batch"``: the batch means of the per-sample norms, as the reference
      code (score_sde, ``LangevinCorrector``) does: one step size per level,
      robust in any dimension, but a sample then depends on its batch-mates.

    The step rule is invariant to rescaling x, so in scaled coordinates it is
    Algorithm 5 with its alpha_i = 1 - beta_i (within 1e-2 of 1 on DDPM
    tables) taken as 1.
    """
    if snr_norms not in ("sigma", "sample", "batch"):
        raise ValueError(f"snr_norms must be 'sigma', 'sample' or 'batch', got {snr_norms!r}")
    for _ in range(steps):
        g = score_from_x0(x, denoiser(x, sigma, **cond), sigma)
        z = _noise(x, generator)
        if snr_norms == "sigma":
            eps = torch.as_tensor(2 * (snr * sigma) ** 2, dtype=x.dtype, device=x.device)
        else:
            g_norm, z_norm = _per_sample_norm(g), _per_sample_norm(z)
            if snr_norms == "batch":
                g_norm, z_norm = g_norm.mean(), z_norm.mean()
            eps = 2 * (snr * z_norm / g_norm.clamp(min=torch.finfo(g.dtype).tiny)) ** 2
        x = x + eps * g + (2 * eps).sqrt() * z
    return x


def no_corrector(denoiser, x: torch.Tensor, sigma: float, **options) -> torch.Tensor:
    """The identity: x <- x (no evaluation, no noise drawn; options are ignored)."""
    return x


#: name -> corrector ``(denoiser, x, sigma, *, cond, generator, snr, steps, snr_norms) -> x``.
CORRECTORS = {
    "langevin": langevin_corrector,
    "none": no_corrector,
}


def _lookup(registry: dict, kind: str, name: str):
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; expected one of: {', '.join(registry)}")
    return registry[name]


# ----------------------------------------------------------------------------------
# Samplers
# ----------------------------------------------------------------------------------


def sample_euler_maruyama(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Euler-Maruyama on the reverse SDE (Song et al. 2021, eq. 6 and app. E):
    at each grid step, with x0 = D(x; sigma_i) and score (x0 - x) / sigma_i^2,

        x_{i+1} = x_i + (sigma_i^2 - sigma_{i+1}^2) score + sqrt(sigma_i^2 - sigma_{i+1}^2) z,

    and x = x0 on the last step, to sigma = 0 (see :func:`euler_maruyama_step`).
    One evaluation per step.
    """
    cond = cond or {}
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        x0 = denoiser(x, s, **cond)
        report(callback, i, x, s, s_next, x0)
        x = euler_maruyama_step(x, x0, s, s_next, generator)
    return x


def sample_pc(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    predictor: str = "euler-maruyama",
    corrector: str = "langevin",
    snr: float = 0.16,
    corrector_steps: int = 1,
    snr_norms: str = "sigma",
) -> torch.Tensor:
    """Predictor-corrector sampling, Song et al. 2021, Algorithm 1 (sec. 4.2, app. G).

    At every nonzero grid level sigma_i: ``corrector_steps`` corrector moves at
    sigma_i (:data:`CORRECTORS`: ``"langevin"`` with signal-to-noise ratio
    ``snr``, or ``"none"``), then one predictor step to sigma_{i+1}
    (:data:`PREDICTORS`: ``"euler-maruyama"`` or ``"reverse-diffusion"``); the
    last predictor step, to sigma = 0, is the denoising step x = D(x; sigma).

    Song et al. use snr = 0.16 with one corrector step for VE models on CIFAR-10
    (app. G, Table 4) and 0.01 (or no corrector) for VP ones. ``snr_norms``
    (``"sample"`` or ``"batch"``) is explained in :func:`langevin_corrector`:
    on 2-D toy data use ``"batch"``. Evaluations:
    (1 + corrector_steps) per step. ``callback`` is told once per grid step,
    with the predictor's x0.
    """
    predict = _lookup(PREDICTORS, "predictor", predictor)
    correct = _lookup(CORRECTORS, "corrector", corrector)
    if not snr > 0:
        raise ValueError(f"snr must be > 0, got {snr}")
    if snr_norms not in ("sigma", "sample", "batch"):
        raise ValueError(f"snr_norms must be 'sigma', 'sample' or 'batch', got {snr_norms!r}")
    if isinstance(corrector_steps, bool) or int(corrector_steps) != corrector_steps or corrector_steps < 0:
        raise ValueError(f"corrector_steps must be a non-negative integer, got {corrector_steps!r}")
    cond = cond or {}
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        x = correct(denoiser, x, s, cond=cond, generator=generator, snr=snr, steps=int(corrector_steps), snr_norms=snr_norms)
        x0 = denoiser(x, s, **cond)
        report(callback, i, x, s, s_next, x0)
        x = predict(x, x0, s, s_next, generator)
    return x

"""Exponential-integrator solvers in lambda = -log sigma: DPM-Solver++ (2M, 2M SDE),
a multistep method of any order (DEIS-style), its predictor-corrector UniPC, and an
adaptive DPM-Solver-12.

In scaled coordinates with lambda = -log sigma, the probability-flow ODE is

    dx / dlambda = D(x; sigma) - x,

whose exact solution from lambda to lambda + h is (Lu et al. 2022b, "DPM-Solver++", eq. 9)

    x(lambda + h) = e^{-h} x(lambda) + int_lambda^{lambda+h} e^{-(lambda + h - u)} D(x(u); e^{-u}) du.

The linear part is integrated exactly; solvers differ in how they approximate D
inside the integral. A step that lands on sigma = 0 returns the last D (the
"denoise" step every sampler ends with), except UniPC interpolating in
tau = 1 / sqrt(sigma_data^2 + sigma^2), which extrapolates to sigma = 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..tensors import randn
from ._common import GL_NODES, GL_WEIGHTS, Callback, group_by_length, lagrange_weights, levels, report, weighted_sum

__all__ = ["sample_dpmpp_2m", "sample_dpmpp_2m_sde", "sample_dpmpp_3m_sde", "sample_deis", "sample_unipc", "sample_dpm_adaptive", "exp_integrator_weights"]

def exp_integrator_weights(lambdas, lambda_next, lambda_from=None, sigma_data: float | None = None) -> np.ndarray:
    """Weights w_j with int_{l_from}^{l_next} e^{-(l_next - u)} P(u) du = sum_j w_j D_j, where P is
    the Lagrange polynomial through (lambdas[j], D_j) and l_from is ``lambda_from`` (by
    default lambdas[0], the current point).

    This is the exact-integration rule of tAB-DEIS (Zhang & Chen 2022, eq. 15) written in
    lambda for a data-prediction model; 24-node Gauss-Legendre quadrature makes it exact to
    float64 for the polynomial degrees used here (at most 4). With ``sigma_data`` the
    polynomial is in tau = 1 / sqrt(sigma_data^2 + sigma^2) instead of lambda (see
    :func:`sample_unipc`). Batched like :func:`~difflab.samplers._common.lagrange_weights`:
    ``lambdas`` (..., k), ``lambda_next`` and ``lambda_from`` (...), one row per step."""
    lambdas = np.asarray(lambdas, dtype=np.float64)
    a = lambdas[..., :1] if lambda_from is None else np.asarray(lambda_from, dtype=np.float64)[..., None]
    b = np.asarray(lambda_next, dtype=np.float64)[..., None]
    u = 0.5 * (b - a) * GL_NODES + 0.5 * (a + b)
    kernel = np.exp(-(b - u)) * 0.5 * (b - a) * GL_WEIGHTS
    nodes = lambdas
    if sigma_data is not None:
        u = _tau(u, sigma_data)
        nodes = _tau(lambdas, sigma_data)
    return lagrange_weights(nodes, u, kernel)


def _tau(lam, sigma_data: float):
    """tau = 1 / sqrt(sigma_data^2 + sigma^2) at lambda = -log sigma (numpy or float)."""
    return 1.0 / np.sqrt(sigma_data**2 + np.exp(-2.0 * np.asarray(lam, dtype=np.float64)))


def _interpolant_at(lams: list[float], outputs: list[torch.Tensor], target: float, sigma_data: float | None):
    """The Lagrange interpolant of ``outputs`` (at ``lams``) evaluated at lambda = ``target``
    (inf: sigma = 0), in tau = 1 / sqrt(sigma_data^2 + sigma^2) where ``sigma_data`` is given,
    else in lambda."""
    if sigma_data is None:
        nodes, point = lams, target
    else:
        nodes, point = [float(_tau(lam, sigma_data)) for lam in lams], float(_tau(target, sigma_data))
    out = 0.0
    for j, tj in enumerate(nodes):
        lj = 1.0
        for m, tm in enumerate(nodes):
            if m != j:
                lj *= (point - tm) / (tj - tm)
        out = out + lj * outputs[j]
    return out


def _extrapolate_to_zero(lams: list[float], outputs: list[torch.Tensor], sigma_data: float) -> torch.Tensor:
    """The interpolant of ``outputs`` (at ``lams``) in tau, evaluated at sigma = 0 (tau = 1 / sigma_data)."""
    return _interpolant_at(lams, outputs, math.inf, sigma_data)


def _lam(sigma: float) -> float:
    return -math.log(sigma)


def _batched_weights(lams: list[float], rows: list[tuple[list[int], int, int]], sigma_data) -> list[list[float]]:
    """:func:`exp_integrator_weights` of every row (node indices into ``lams``, index of
    lambda_next, index of lambda_from), one batched computation per number of nodes."""
    table: list[list[float]] = [[] for _ in rows]
    for group in group_by_length([nodes for nodes, _, _ in rows]).values():
        weights = exp_integrator_weights(
            [[lams[j] for j in rows[r][0]] for r in group],
            [lams[rows[r][1]] for r in group],
            lambda_from=[lams[rows[r][2]] for r in group],
            sigma_data=sigma_data,
        )
        for r, row in zip(group, weights.tolist()):
            table[r] = row
    return table


def _node_counts(steps: int, order: int, lower_order_final: bool) -> list[int]:
    """k_i, the most outputs step i's predictor may use: ``order``, fewer while the run starts
    and, with ``lower_order_final``, no more than the steps left before sigma = 0."""
    return [min(order, i + 1, steps - 1 - i) if lower_order_final else min(order, i + 1) for i in range(steps)]


def multistep_weights(lams: list[float], order: int, lower_order_final: bool, corrector: bool, sigma_data=None,
                      every_order: bool = False):
    """The weights of every step of :func:`_multistep` on the grid lambda_0 > ... (``lams``; the
    last may be inf, sigma = 0), computed once per run.

    Step i's predictor, from lambda_i to lambda_{i+1}, uses the k_i latest nodes
    lambda_i, lambda_{i-1}, ... (k_i = min(order, i + 1), and with ``lower_order_final`` at
    most the steps left before sigma = 0); the corrector of step i + 1 redoes that step with
    lambda_{i+1} added as the newest node (k_i + 1 nodes). Returns (predictor, corrector):
    ``predictor[i]`` for every step that does not land on sigma = 0, ``corrector[i + 1]`` (with
    ``corrector``, else empty) for the step it corrects. With ``every_order`` the tables hold
    every order up to k_i, keyed ``(i, k)`` and ``(i + 1, k)`` (k the predictor's nodes)."""
    n = len(lams) - 1
    ks = _node_counts(n, order, lower_order_final)
    steps = [i for i in range(n) if math.isfinite(lams[i + 1])]
    keys = [(i, k) for i in steps for k in (range(1, ks[i] + 1) if every_order else (ks[i],))]
    rows = [(list(range(i, i - k, -1)), i + 1, i) for i, k in keys]
    if corrector:
        rows += [([i + 1, *nodes], nxt, frm) for (nodes, nxt, frm), (i, _) in zip(rows, keys)]
    weights = _batched_weights(lams, rows, sigma_data)
    predictor_keys = keys if every_order else [i for i, _ in keys]
    corrector_keys = [(i + 1, k) for i, k in keys] if every_order else [i + 1 for i, _ in keys]
    return dict(zip(predictor_keys, weights)), dict(zip(corrector_keys, weights[len(keys):]))


def _multistep(denoiser, x, sigmas, cond, callback, order: int, lower_order_final: bool, corrector: bool, sigma_data=None,
               adaptive: bool = False):
    """The multistep exponential integrator behind :func:`sample_deis` and :func:`sample_unipc`.

    Predictor from lambda_i to lambda_{i+1}: x <- (sigma'/sigma) x + sum_j w_j D_j over the last k
    outputs (k <= ``order``). With ``corrector``, the output D_{i+1} evaluated at the predicted
    point is then added to the same nodes and the step is redone from x_i (k + 1 nodes, no new
    evaluation); D_{i+1} itself is kept as evaluated. With ``sigma_data`` the interpolant is a
    polynomial in tau (not lambda) and the step to sigma = 0 evaluates it at tau(0). The weights
    of all steps are computed before the first (:func:`multistep_weights`). With ``adaptive``
    each sample's k is chosen at every step (:func:`_adaptive_orders`)."""
    if order not in (1, 2, 3, 4):
        raise ValueError(f"order must be 1, 2, 3 or 4, got {order}")
    if sigma_data is not None and not sigma_data > 0:
        raise ValueError(f"sigma_data must be > 0 (or None), got {sigma_data}")
    cond = cond or {}
    s = levels(sigmas)
    lams = [_lam(v) if v > 0 else math.inf for v in s]
    n = len(s) - 1
    adaptive = adaptive and order > 2
    predictor_w, corrector_w = multistep_weights(lams, order, lower_order_final, corrector, sigma_data, every_order=adaptive)
    caps = _node_counts(n, order, lower_order_final)
    history: list[torch.Tensor] = []  # D at lambda_i, lambda_{i-1}, ... (newest first)
    x_prev = None  # the state the current x was predicted from
    ks = None  # with adaptive: each sample's number of predictor nodes in the step just taken
    for i in range(n):
        x0 = denoiser(x, s[i], **cond)
        if corrector and i > 0:
            scale = math.exp(lams[i - 1] - lams[i])
            x = (weighted_sum(x_prev, scale, corrector_w[i], [x0, *history]) if ks is None else
                 _per_sample(ks, lambda k: weighted_sum(x_prev, scale, corrector_w[(i, k)], [x0, *history[:k]])))
        report(callback, i, x, s[i], s[i + 1], x0)
        if adaptive and math.isfinite(lams[i + 1]):
            ks = _adaptive_orders(x0, history, lams[i::-1], caps[i], sigma_data)
        history.insert(0, x0)
        del history[order:]
        if s[i + 1] == 0:
            if sigma_data is None:
                return x0
            k = min(2, order, len(history))
            return _extrapolate_to_zero(lams[i::-1][:k], history[:k], sigma_data)
        x_prev = x
        scale = s[i + 1] / s[i]
        x = (weighted_sum(x, scale, predictor_w[i], history) if ks is None else
             _per_sample(ks, lambda k: weighted_sum(x_prev, scale, predictor_w[(i, k)], history[:k])))
    return x


def _adaptive_orders(output: torch.Tensor, past: list[torch.Tensor], lams: list[float], cap: int, sigma_data) -> torch.Tensor:
    """Each sample's number of nodes k for the step from lambda_i (``lams[0]``; ``lams[1:]`` the
    levels of ``past``, newest first), from how well the interpolants of its own past outputs
    predicted ``output`` = D_i: with e_p the error of the polynomial through the p latest past
    outputs, extrapolated to lambda_i, k = 2 + the number of p = 1, 2, ... for which e_{p+1} <= e_p
    holds in a row, at most ``cap`` (k = ``cap`` where it is below 2). The order rises only while
    the higher-degree interpolant is the better predictor, as variable-order multistep codes
    choose it (Hairer, Norsett & Wanner, "Solving ODEs I", sec. III.7); where D turns along the
    trajectory, as when it is decided which mode a sample joins, the step stays at order 2 instead
    of extrapolating a curve that no longer holds. Per sample, so no sample's path depends on
    another's."""
    batch = output.shape[0]
    ks = torch.full((batch,), min(cap, 2), dtype=torch.long, device=output.device)
    if cap <= 2 or len(past) < 2:
        return ks
    errors = [(output - _interpolant_at(lams[1:p + 1], past[:p], lams[0], sigma_data)).reshape(batch, -1).norm(dim=1)
              for p in range(1, min(len(past), cap - 1) + 1)]
    rising = torch.ones(batch, dtype=torch.bool, device=output.device)
    for p in range(1, len(errors)):
        rising = rising & (errors[p] <= errors[p - 1])
        ks = torch.where(rising, torch.full_like(ks, p + 2), ks)
    return ks


def _per_sample(ks: torch.Tensor, step) -> torch.Tensor:
    """``step(k)`` for each sample's own k (one computation when all samples share one)."""
    values = ks.unique().tolist()
    out = step(values[0])
    for k in values[1:]:
        out = torch.where((ks == k).view(-1, *[1] * (out.ndim - 1)), step(k), out)
    return out


def sample_deis(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    order: int = 3,
    lower_order_final: bool = True,
) -> torch.Tensor:
    """Multistep exponential integrator of order ``order`` (1-4): D is replaced by the
    polynomial through the last ``order`` denoiser outputs in lambda and the integral is
    taken exactly (tAB-DEIS, Zhang & Chen 2022, eq. 15, in lambda with data prediction as
    in DPM-Solver++(kM), Lu et al. 2022b). Order 1 is DDIM. The first steps use the
    history available; with ``lower_order_final`` the last steps before sigma = 0 use at
    most as many points as steps remain (Lu et al. 2022b, sec. 5). 1 evaluation per step."""
    return _multistep(denoiser, x, sigmas, cond, callback, order, lower_order_final, corrector=False)


def sample_unipc(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    order: int = 3,
    lower_order_final: bool = True,
    sigma_data: float | None = 1.0,
    adaptive_order: bool = True,
) -> torch.Tensor:
    """UniPC (Zhao et al. 2023), data prediction, in lambda = -log sigma with h = lambda_{i+1} - lambda_i.

    The exact solution of dx/dlambda = D - x over a step is (Lu et al. 2022b, eq. 9)
    x_{i+1} = e^{-h} x_i + int e^{-(lambda_{i+1} - u)} D(u) du. The UniP-p predictor replaces D by
    the polynomial through the p latest outputs D_i, D_{i-1}, ... and integrates it exactly,

        x~_{i+1} = e^{-h} x_i + sum_j w_j D_j,   w_j = int e^{-(lambda_{i+1} - u)} l_j(u) du

    (l_j the Lagrange basis; this is the :func:`sample_deis` step). One evaluation
    D~_{i+1} = D(x~_{i+1}; sigma_{i+1}); then the UniC-p corrector redoes the step with D~_{i+1}
    added as a node at lambda_{i+1} (p + 1 nodes, order p + 1),

        x_{i+1} = e^{-h} x_i + sum_j w^c_j D_j,

    and keeps D~_{i+1} for the next step, so the corrector costs no evaluation (Zhao et al. 2023,
    sec. 3.1, UniC, and sec. 3.2, UniP). The weights are the exact integrals of the interpolant:
    UniPC with varying coefficients (UniPC_v, the phi-function solution of the order conditions),
    not the B(h) approximations bh1/bh2.

    Interpolation variable. With ``sigma_data = None`` the polynomial is in lambda, as in the
    paper. With a number (the default, 1.0: DDPM data scaled to unit variance) it is in

        tau = 1 / sqrt(sigma_data^2 + sigma^2)          (the VP signal scale alpha for sigma_data = 1),

    in which D along an exact trajectory is affine for Gaussian data of std sigma_data
    (D - mu = sigma_data^2 tau z), where a polynomial in lambda must follow e^{lambda}; the integral
    is the same (the DEIS construction, Zhang & Chen 2022 sec. 4, with another interpolation
    variable). tau stays finite at sigma = 0, so the last step extrapolates the interpolant of the
    two latest outputs to tau(0) = 1 / sigma_data instead of returning the last D (the first-order
    step every lambda-solver must take there).

    Lower orders start the run; with ``lower_order_final`` the last steps before sigma = 0 use at
    most as many points as steps remain. 1 evaluation per step.

    ``order`` is the highest order. With ``adaptive_order`` (the default) a sample steps above
    order 2 only while its own outputs say the higher-degree interpolant holds: at each step the
    polynomials through its 1, 2, ... latest past outputs are extrapolated to the new level, and
    the order rises by one for each degree that predicted the new output no worse than the degree
    below (:func:`_adaptive_orders`). A fixed order 3 extrapolates a quadratic across the levels
    where D turns (where it is decided which mode a sample joins) and there, at 6 to 9 steps, it
    can land far off (docs/samplers.md, "Order by the trajectory"); on smooth stretches the rule
    keeps order 3. Orders 1 and 2 are fixed either way."""
    return _multistep(denoiser, x, sigmas, cond, callback, order, lower_order_final, corrector=True, sigma_data=sigma_data,
                      adaptive=adaptive_order)


def sample_dpmpp_2m(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M), Lu et al. 2022b, Algorithm 2: with h = lambda' - lambda, r = h_prev / h,

        D_hat = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1},      x' = (sigma'/sigma) x - (e^{-h} - 1) D_hat,

    first order (DDIM) on the first step. 1 evaluation per step. It is
    :func:`sample_dpmpp_2m_sde` with eta = 0 (the same update, term by term)."""
    return sample_dpmpp_2m_sde(denoiser, x, sigmas, cond=cond, generator=generator, callback=callback, eta=0.0)


def sample_dpmpp_2m_sde(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> torch.Tensor:
    """SDE-DPM-Solver++(2M), Lu et al. 2022b, sec. 4 and app. B: the first-order step of the
    reverse SDE in lambda,

        x' = (sigma'/sigma) e^{-eta h} x + (1 - e^{-(1+eta) h}) D + sigma' sqrt(1 - e^{-2 eta h}) z,

    with the midpoint second-order correction (1 - e^{-(1+eta) h}) / (2r) (D_i - D_{i-1}).
    ``eta`` = 1 is the reverse SDE, 0 the ODE (2M). 1 evaluation per step. The scalars of all
    steps are computed before the first (:func:`sde_2m_coefficients`), and each update of x is
    one multiply and one fused multiply-add per term (:func:`~difflab.samplers._common.weighted_sum`)."""
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    cond = cond or {}
    s = levels(sigmas)
    coefficients = sde_2m_coefficients(s, eta, s_noise)
    x0_prev = None
    for i in range(len(s) - 1):
        x0 = denoiser(x, s[i], **cond)
        report(callback, i, x, s[i], s[i + 1], x0)
        if s[i + 1] == 0:
            return x0
        decay, phi, correction, noise = coefficients[i]
        weights, terms = [phi], [x0]
        if x0_prev is not None:
            weights.append(correction)
            terms.append(x0 - x0_prev)
        if eta > 0:
            weights.append(noise)
            terms.append(randn(x.shape, generator, device=x.device, dtype=x.dtype))
        x = weighted_sum(x, decay, weights, terms)
        x0_prev = x0
    return x


def sample_dpmpp_3m_sde(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
    lower_order_final: bool = True,
) -> torch.Tensor:
    """SDE-DPM-Solver++(3M): the exact exponential step of the reverse SDE in lambda (Lu et al.
    2022b, sec. 4 and app. B) with D replaced by the quadratic through the three latest outputs,
    integrated exactly:

        x' = e^{-(1+eta) h} x + sum_j w_j D_j + sigma' sqrt(1 - e^{-2 eta h}) s_noise z,
        w_j = int_lambda^lambda' (1+eta) e^{-(1+eta)(lambda' - u)} l_j(u) du,

    l_j the Lagrange basis through the latest lambdas. With w = (1+eta)(u - lambda) the kernel is
    e^{-(H - w)} dw, H = (1+eta) h, so the w_j are :func:`sample_deis`'s weights on the grid with
    lambda scaled by 1 + eta (:func:`multistep_weights`); eta = 0 is :func:`sample_deis` at
    order 3 (DPM-Solver++(3M)), eta = 1 the reverse SDE. The first steps use the outputs there
    are; with ``lower_order_final`` the last steps before sigma = 0 use at most as many points as
    steps remain (Lu et al. 2022b, sec. 5). 1 evaluation per step; the last returns D.
    (k-diffusion's ``sample_dpmpp_3m_sde``, 0.1.1, weights the quadratic term by half of this
    integral; here it is exact, ``tests/test_samplers_fast.py``.)"""
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    cond = cond or {}
    s = levels(sigmas)
    scaled = [(1.0 + eta) * _lam(v) if v > 0 else math.inf for v in s]
    weights, _ = multistep_weights(scaled, 3, lower_order_final, corrector=False)
    history: list[torch.Tensor] = []  # D at lambda_i, lambda_{i-1}, ... (newest first)
    for i in range(len(s) - 1):
        x0 = denoiser(x, s[i], **cond)
        report(callback, i, x, s[i], s[i + 1], x0)
        if s[i + 1] == 0:
            return x0
        history.insert(0, x0)
        del history[3:]
        h = _lam(s[i + 1]) - _lam(s[i])
        step_weights, terms = list(weights[i]), history[: len(weights[i])]
        if eta > 0:
            step_weights.append(s[i + 1] * math.sqrt(-math.expm1(-2.0 * eta * h)) * s_noise)
            terms = [*terms, randn(x.shape, generator, device=x.device, dtype=x.dtype)]
        x = weighted_sum(x, math.exp(-(1.0 + eta) * h), step_weights, terms)
    return x


def sde_2m_coefficients(s: list[float], eta: float, s_noise: float) -> list[tuple[float, float, float, float]]:
    """The scalars of every step of :func:`sample_dpmpp_2m_sde` on the grid ``s`` up to the
    step to sigma = 0, once per run: with h = lambda' - lambda and h_prev the step before,

        x' = decay x + phi D_i + correction (D_i - D_{i-1}) + noise z,
        decay = (sigma'/sigma) e^{-eta h},  phi = 1 - e^{-(1+eta) h},
        correction = phi h / (2 h_prev) (0 on the first step),  noise = sigma' sqrt(1 - e^{-2 eta h}) s_noise

    (Lu et al. 2022b, sec. 4 and app. B)."""
    out, h_prev = [], None
    for v, v_next in zip(s[:-1], s[1:]):
        if v_next == 0:
            break
        h = _lam(v_next) - _lam(v)
        eta_h = eta * h
        phi = -math.expm1(-h - eta_h)
        correction = 0.0 if h_prev is None else phi * (h / (2 * h_prev))
        out.append(((v_next / v) * math.exp(-eta_h), phi, correction, v_next * math.sqrt(-math.expm1(-2 * eta_h)) * s_noise))
        h_prev = h
    return out


def sample_dpm_adaptive(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    rtol: float = 0.05,
    atol: float = 0.0078,
    h_init: float = 0.05,
    safety: float = 0.9,
) -> torch.Tensor:
    """Adaptive DPM-Solver-12 (Lu et al. 2022a, "DPM-Solver", sec. 3.4 and Algorithm 4,
    in data prediction): each attempted step from lambda to lambda + h computes

        x1 = e^{-h} x + (1 - e^{-h}) D(x)                                (order 1)
        u  = e^{-h/2} x + (1 - e^{-h/2}) D(x),  x2 = e^{-h} x + (1 - e^{-h}) D(u)   (order 2)

    and accepts when E = || (x2 - x1) / max(atol, rtol max(|x1|, |x|)) ||_RMS <= 1 (the
    worst sample decides), then sets h <- safety h E^{-1/2}. Integrates from sigmas[0]
    down to the grid's smallest nonzero level, then denoises. Every attempt costs 2
    evaluations; the grid's intermediate levels are not used."""
    if not (rtol > 0 and atol > 0 and h_init > 0):
        raise ValueError("rtol, atol and h_init must be > 0")
    cond = cond or {}
    lam, lam_end = _lam(float(sigmas[0])), _lam(float(sigmas[-2]))
    h = h_init
    i = 0
    while lam < lam_end - 1e-12:
        h = min(h, lam_end - lam)
        s, s_next, s_mid = math.exp(-lam), math.exp(-(lam + h)), math.exp(-(lam + h / 2))
        x0 = denoiser(x, s, **cond)
        x1 = math.exp(-h) * x - math.expm1(-h) * x0
        u = math.exp(-h / 2) * x - math.expm1(-h / 2) * x0
        x2 = math.exp(-h) * x - math.expm1(-h) * denoiser(u, s_mid, **cond)
        delta = torch.maximum(x1.abs(), x.abs()) * rtol
        delta = delta.clamp(min=atol)
        err = ((x2 - x1) / delta).pow(2).reshape(x.shape[0], -1).mean(1).sqrt().max().item()
        if err <= 1:
            report(callback, i, x, s, s_next, x0)
            x, lam, i = x2, lam + h, i + 1
        h = h * min(2.0, max(0.2, safety * max(err, 1e-10) ** -0.5))
    s_min = float(sigmas[-2])
    x0 = denoiser(x, s_min, **cond)
    report(callback, i, x, s_min, 0.0, x0)
    return x0

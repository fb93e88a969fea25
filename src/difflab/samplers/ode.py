"""The probability-flow ODE in sigma: fixed-step Euler and Heun, adaptive RK45.

In scaled coordinates x = x_t / alpha_t the probability-flow ODE (Song et al.
2021, eq. 13) with sigma as the time variable is Karras et al. 2022, eq. 3
with s(t) = 1, sigma(t) = t:

    dx / dsigma = -sigma grad log p(x; sigma) = (x - D(x; sigma)) / sigma.

Its solutions carry p(x; sigma_max) to p(x; sigma_min) deterministically; the
last step of every method here, to sigma = 0, is x = D(x; sigma_min) (an
Euler step to 0 gives exactly that).
"""

from __future__ import annotations

import torch

from ._common import Callback, report

__all__ = ["sample_ode", "ode_derivative", "euler_step", "heun_step", "bounded_heun_step", "METHODS"]

METHODS = ("euler", "heun", "rk45")


def ode_derivative(x: torch.Tensor, x0: torch.Tensor, sigma: float) -> torch.Tensor:
    """dx/dsigma = (x - D(x; sigma)) / sigma, Karras et al. 2022, eq. 3 (with x0 = D(x; sigma))."""
    return torch.sub(x, x0).div_(sigma)


def euler_step(denoiser, x, x0, sigma: float, sigma_next: float, cond: dict) -> torch.Tensor:
    """Euler: x' = x + (sigma' - sigma) d(x, sigma). Equals DDIM with eta = 0
    (Song, Meng & Ermon 2021, eq. 12; Karras et al. 2022, sec. 4). No extra evaluation."""
    return ode_derivative(x, x0, sigma).mul_(sigma_next - sigma).add_(x)  # in place on the new tensor, same roundings


def heun_step(denoiser, x, x0, sigma: float, sigma_next: float, cond: dict) -> torch.Tensor:
    """Heun's 2nd-order method, Karras et al. 2022, Algorithm 1 (lines 5-8):

        d  = (x - D(x; sigma)) / sigma,        x_e = x + (sigma' - sigma) d
        d' = (x_e - D(x_e; sigma')) / sigma',  x'  = x + (sigma' - sigma) (d + d') / 2,

    falling back to the Euler step when sigma' = 0. One extra evaluation per step. Both
    updates of x are fused multiply-adds (``add`` with ``alpha``).
    """
    d = ode_derivative(x, x0, sigma)
    x_euler = x.add(d, alpha=sigma_next - sigma)
    if sigma_next == 0:
        return x_euler
    d_next = ode_derivative(x_euler, denoiser(x_euler, sigma_next, **cond), sigma_next)
    return x.add(d_next.add_(d), alpha=(sigma_next - sigma) / 2)  # d + d' in place on the new d'


def bounded_heun_step(denoiser, x, x0, sigma: float, sigma_next: float, cond: dict) -> torch.Tensor:
    """:func:`heun_step` while sigma' >= sigma / 2 (and the Euler step to sigma' = 0); on a
    longer step the correction's weight on the change of the denoised estimate is capped
    at 1 - sigma'/sigma, the most the exact solution can give it (see
    :mod:`difflab.samplers.edm`): x' = (sigma'/sigma) x + (1 - sigma'/sigma) D(x_e; sigma').
    One extra evaluation either way."""
    if sigma_next == 0 or 2 * sigma_next >= sigma:
        return heun_step(denoiser, x, x0, sigma, sigma_next, cond)
    x_euler = euler_step(denoiser, x, x0, sigma, sigma_next, cond)
    ratio = sigma_next / sigma
    return ratio * x + (1 - ratio) * denoiser(x_euler, sigma_next, **cond)


_FIXED_STEPS = {"euler": euler_step, "heun": bounded_heun_step}


def _integrate_rk45(denoiser, x: torch.Tensor, sigma_max: float, sigma_min: float, cond: dict, callback, rtol, atol):
    """Adaptive Dormand-Prince RK45 (scipy) on the float64 state from sigma_max to sigma_min.

    Every derivative goes through ``denoiser`` (so NFE counting sees it); the
    denoiser receives x in its own dtype. Returns x at sigma_min and the
    number of accepted steps.
    """
    from scipy.integrate import RK45

    shape, dtype, device = x.shape, x.dtype, x.device

    def f(sigma, y):
        xs = torch.from_numpy(y).reshape(shape).to(device=device, dtype=dtype)
        return ode_derivative(xs, denoiser(xs, float(sigma), **cond), float(sigma)).to(torch.float64).cpu().numpy().ravel()

    def state(y):
        return torch.from_numpy(y.copy()).reshape(shape).to(device=device, dtype=dtype)

    solver = RK45(f, sigma_max, x.detach().to(torch.float64).cpu().numpy().ravel(), sigma_min, rtol=rtol, atol=atol)
    steps = 0
    while solver.status == "running":
        # solver.f is the derivative at the current point (first-same-as-last), so
        # x0 = x - sigma d costs no evaluation.
        s_prev, y_prev, x0_prev = solver.t, solver.y, solver.y - solver.t * solver.f
        message = solver.step()
        if solver.status == "failed":
            raise RuntimeError(f"RK45 failed at sigma={solver.t:.4g}: {message}")
        if callback is not None:
            report(callback, steps, state(y_prev), float(s_prev), float(solver.t), state(x0_prev))
        steps += 1
    return state(solver.y), steps


def sample_ode(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    cond: dict | None = None,
    generator=None,
    callback: Callback | None = None,
    method: str = "rk45",
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> torch.Tensor:
    """Solve the probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma
    (Karras et al. 2022, eq. 3; Song et al. 2021, eq. 13) from sigmas[0] to 0.

    ``method``:
      * ``"euler"``: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) d_i on the grid (= DDIM, eta = 0);
        1 evaluation per step.
      * ``"heun"``: Karras et al. 2022, Algorithm 1 on the grid; 2 evaluations per
        step, 1 on the last.
      * ``"rk45"``: adaptive Dormand-Prince (scipy's RK45, as Song et al. 2021
        sec. 4.3 and app. D.2) in float64 with tolerances ``rtol``, ``atol``, from
        sigmas[0] to the grid's smallest nonzero level, then x = D(x; sigma_min);
        the grid's intermediate levels are not used, but it needs at least two
        nonzero levels (``steps >= 2``). The whole batch is one ODE
        system (shared step sizes), so its samples agree with one-at-a-time
        solves only to within the tolerances. ``callback`` is told at every
        accepted step.

    Deterministic: ``generator`` is unused.
    """
    if method not in METHODS:
        raise ValueError(f"unknown ODE method {method!r}; expected one of: {', '.join(METHODS)}")
    cond = cond or {}
    if method == "rk45":
        if not (rtol > 0 and atol > 0):
            raise ValueError(f"rtol and atol must be > 0, got {rtol}, {atol}")
        if len(sigmas) < 3:
            raise ValueError(
                "method 'rk45' integrates from sigmas[0] down to the grid's smallest nonzero level, so it needs "
                "a grid with at least two nonzero levels (steps >= 2); this one has one"
            )
        sigma_min = float(sigmas[-2])
        x, steps = _integrate_rk45(denoiser, x, float(sigmas[0]), sigma_min, cond, callback, rtol, atol)
        x0 = denoiser(x, sigma_min, **cond)
        report(callback, steps, x, sigma_min, 0.0, x0)
        return x0
    step = _FIXED_STEPS[method]
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        x0 = denoiser(x, s, **cond)
        report(callback, i, x, s, s_next, x0)
        x = step(denoiser, x, x0, s, s_next, cond)
    return x

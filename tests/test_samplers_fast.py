"""Fast samplers (issue 5): equivalences with the basic ones, orders of accuracy and convergence on the exact mixture."""

import math

import pytest
import torch

import difflab
from difflab.grids import karras_grid, log_snr_grid
from difflab.metrics import sliced_wasserstein
from difflab.models import GaussianMixture, eight_gaussians
from difflab.samplers.dpm_solver import exp_integrator_weights
from difflab.schedules import DiscreteSchedule

from conftest import sw_ratio

GMM = eight_gaussians()
DEN = GMM.denoiser(DiscreteSchedule("linear", 1000))


def _grid(n):
    s = DEN.schedule
    return karras_grid(float(s.ve_sigma_at_index(0)), s.ve_sigma_max, n)


def _x(n=64, seed=0):
    return torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_first_order_methods_are_ddim():
    sig = _grid(8)
    x = _x() * math.sqrt(1 + sig[0] ** 2)
    ddim = difflab.samplers.sample_ddim(DEN, x, sig)
    torch.testing.assert_close(difflab.samplers.sample_euler(DEN, x, sig), ddim)
    torch.testing.assert_close(difflab.samplers.sample_deis(DEN, x, sig, order=1), ddim)

    # DPM-Solver++(2M) written out from Lu et al. 2022b, Algorithm 2
    y, x0_prev, h_prev = x.clone(), None, None
    for s, s_next in zip(sig[:-1].tolist(), sig[1:].tolist()):
        x0 = DEN(y, s)
        if s_next == 0:
            y = x0
            break
        h = math.log(s / s_next)
        d = x0 if x0_prev is None else (1 + h / (2 * h_prev)) * x0 - h / (2 * h_prev) * x0_prev
        y = (s_next / s) * y - math.expm1(-h) * d
        x0_prev, h_prev = x0, h
    torch.testing.assert_close(difflab.samplers.sample_dpmpp_2m(DEN, x, sig), y)


def test_heun_is_ode_heun():
    """Where no step more than halves sigma, `heun` is Karras et al.'s Algorithm 1 bit for bit."""
    sig = _grid(31)
    assert (2 * sig[1:-1] >= sig[:-2]).all()
    x = _x() * math.sqrt(1 + sig[0] ** 2)
    assert torch.equal(difflab.samplers.sample_heun(DEN, x, sig), difflab.samplers.sample_ode(DEN, x, sig, method="heun"))


def test_heun_long_step_caps_the_correction():
    """On a step with sigma' < sigma / 2 Heun's weight (sigma/sigma' - 1)/2 on the change of the
    denoised estimate is capped at 1 - sigma'/sigma, the most the exact ODE solution can give it:
    x' = (sigma'/sigma) x + (1 - sigma'/sigma) D(x_euler; sigma')."""
    x, (s, s_next) = _x() * 5.0, (5.0, 0.5)
    x_euler = x + (s_next - s) * (x - DEN(x, s)) / s
    expected = (s_next / s) * x + (1 - s_next / s) * DEN(x_euler, s_next)
    out = difflab.samplers.sample_heun(DEN, x, torch.tensor([s, s_next], dtype=torch.float64))
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("spacing", ["trailing", "karras"])
def test_heun_is_stable_on_cosine_table(spacing):
    """Regression: under the cosine table (sigma_max ~ 2e4, first trailing step 2e4 -> 6.4) the
    uncapped Heun correction multiplied the change of D by ~1600; at 10 steps its SW error was
    ~150x Euler's (trailing) and ~10x (karras). Now it is about as accurate as Euler or better."""
    den = GMM.denoiser(DiscreteSchedule("cosine", 1000))
    ref = GMM.sample(2000, torch.Generator().manual_seed(500))
    err, nfe = {}, {}
    for name in ("euler", "heun"):
        x, info = difflab.sample(den, (2000, 2), name, 10, spacing=spacing, generator=0, return_info=True)
        err[name], nfe[name] = sliced_wasserstein(x, ref), info.nfe
    assert nfe == {"euler": 10, "heun": 19}  # the capped steps still evaluate at the end point
    assert err["heun"] < 1.2 * err["euler"], err


def test_exp_integrator_weights_integrate_polynomials_exactly():
    lams, nxt = [0.3, 0.1, -0.2], 0.75
    for deg in range(3):
        w = exp_integrator_weights(lams, nxt)
        approx = sum(wj * lj**deg for wj, lj in zip(w, lams))
        # int_a^b e^{-(b-u)} u^deg du by fine quadrature
        u = torch.linspace(lams[0], nxt, 200_001, dtype=torch.float64)
        exact = torch.trapezoid(torch.exp(-(nxt - u)) * u**deg, u).item()
        assert approx == pytest.approx(exact, rel=1e-8, abs=1e-12)


def test_higher_order_converges_faster():
    """Error against a 400-step reference falls faster with the step count for DEIS-3 than DDIM."""
    x = _x(256)
    ref = difflab.samplers.sample_heun(DEN, x * math.sqrt(1 + _grid(200)[0] ** 2), _grid(200))

    def err(name, n, **kw):
        sig = _grid(n)
        out = difflab.SAMPLERS[name](DEN, x * math.sqrt(1 + sig[0] ** 2), sig, **kw)
        return (out - ref).pow(2).mean().sqrt().item()

    ddim = [err("ddim", n) for n in (20, 40)]
    deis = [err("deis", n, order=3) for n in (20, 40)]
    assert deis[1] < ddim[1]
    assert deis[0] / deis[1] > ddim[0] / ddim[1]


@pytest.mark.parametrize("sampler,steps,opts", [
    ("dpmpp-2m", 20, {}), ("dpmpp-2m-sde", 30, {}), ("dpmpp-3m-sde", 30, {}), ("deis", 20, {"order": 3}), ("heun", 15, {}),
    ("euler", 30, {"churn": 10.0}), ("dpm-adaptive", 10, {}), ("unipc", 20, {}), ("unipc", 20, {"sigma_data": None}),
])
def test_fast_samplers_reproduce_mixture(sampler, steps, opts):
    x, info = difflab.sample(DEN, (6000, 2), sampler, steps, spacing="karras", generator=torch.Generator().manual_seed(0),
                             return_info=True, **opts)
    assert sw_ratio(x, GMM.sample) < 2.0, sampler


@pytest.mark.parametrize("sampler,opts", [("dpmpp-2m-sde", {}), ("dpmpp-3m-sde", {}), ("euler", {"churn": 5.0})])
def test_stochastic_fast_samplers_batch_invariant(sampler, opts):
    a = difflab.sample(DEN, (5, 2), sampler, 10, generator=3, **opts)
    b = torch.cat([difflab.sample(DEN, (1, 2), sampler, 10, generator=3 + i, **opts) for i in range(5)])
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_dpmpp_3m_sde_at_eta_0_is_deis_order_3():
    """With no noise the 3M SDE step is the third-order exponential multistep in lambda (DPM-Solver++(3M))."""
    sig = log_snr_grid(0.02, 80.0, 9)
    x = _x() * math.sqrt(1 + sig[0] ** 2)
    torch.testing.assert_close(difflab.samplers.sample_dpmpp_3m_sde(DEN, x, sig, eta=0.0),
                               difflab.samplers.sample_deis(DEN, x, sig, order=3))


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_dpmpp_3m_sde_integrates_a_quadratic_exactly(eta):
    """For D(lambda) a quadratic in lambda (independent of x) and no noise, a full-order step equals
    x' = e^{-H} x + int (1+eta) e^{-(1+eta)(lambda' - u)} D(u) du exactly: the third step (the first
    with three outputs), from the solver's own state there (read by the callback), against that
    integral by quadrature (k-diffusion 0.1.1's halved quadratic term would miss it)."""
    quad = lambda lam: 0.7 - 0.4 * lam + 0.3 * lam * lam  # noqa: E731
    sig = torch.tensor([4.0, 2.5, 1.4, 0.8], dtype=torch.float64)
    lams = [-math.log(v) for v in sig.tolist()]
    seen = []

    def den(x, sigma, **cond):
        return torch.full_like(x, quad(-math.log(float(sigma))))

    x1 = torch.full((1, 1), 3.0, dtype=torch.float64)
    # the third step from x at sigma 1.4: the solver's own state there (take it from the callback)
    difflab.samplers.sample_dpmpp_3m_sde(den, x1, torch.cat([sig, torch.zeros(1, dtype=torch.float64)]), eta=eta,
                                         s_noise=0.0, lower_order_final=False, callback=seen.append)
    x_i, x_next = seen[2]["x"], seen[3]["x"]
    a, b = lams[2], lams[3]
    u = torch.linspace(a, b, 200001, dtype=torch.float64)
    mid, du = (u[:-1] + u[1:]) / 2, (b - a) / 200000
    integral = float(((1 + eta) * torch.exp(-(1 + eta) * (b - mid)) * quad(mid)).sum() * du)
    expected = math.exp(-(1 + eta) * (b - a)) * float(x_i) + integral
    assert abs(float(x_next) - expected) < 1e-8


def test_nfe_counts():
    for name, steps, nfe in [("heun", 5, 9), ("dpmpp-2m", 5, 5), ("deis", 7, 7), ("unipc", 7, 7), ("lms", 6, 6)]:
        _, info = difflab.sample(DEN, (4, 2), name, steps, spacing="karras", generator=0, return_info=True)
        assert info.nfe == nfe, name
    _, info = difflab.sample(DEN, (4, 2), "dpm-adaptive", 5, spacing="karras", generator=0, return_info=True)
    assert info.nfe % 2 == 1 and info.nfe > 3


def test_unipc_order1_is_ddim_plus_linear_corrector():
    """UniPC-1 written out: a DDIM predictor, then the corrector integrates the line through
    (lambda_i, D_i) and (lambda_{i+1}, D~_{i+1}) exactly:
    x_{i+1} = e^{-h} x_i + (1 - e^{-h}) D_i + (h - 1 + e^{-h}) / h (D~_{i+1} - D_i)."""
    sig = log_snr_grid(0.02, 80.0, 7)
    x = _x() * math.sqrt(1 + sig[0] ** 2)
    y, prev = x.clone(), None
    for s, s_next in zip(sig[:-1].tolist(), sig[1:].tolist()):
        d = DEN(y, s)
        if prev is not None:
            y_prev, d_prev, h = prev
            y = math.exp(-h) * y_prev - math.expm1(-h) * d_prev + (h - 1 + math.exp(-h)) / h * (d - d_prev)
        if s_next == 0:
            y = d
            break
        h = math.log(s / s_next)
        prev = (y, d, h)
        y = math.exp(-h) * y - math.expm1(-h) * d
    out = difflab.samplers.sample_unipc(DEN, x, sig, order=1, sigma_data=None)
    torch.testing.assert_close(out, y)


def _last_state(fn, n, x, **kw):
    """The state at the grid's smallest nonzero level (before the final denoise)."""
    g = log_snr_grid(0.05, 20.0, n)
    seen = []
    fn(DEN, x * math.sqrt(1 + g[0] ** 2), g, callback=seen.append, **kw)
    return seen[-1]["x"]


@pytest.mark.parametrize("order,sigma_data,expected", [
    (1, None, 2), (2, None, 3), (3, None, 4), (2, 1.0, 3), (3, 1.0, 4),
])
def test_unipc_order_of_accuracy(order, sigma_data, expected):
    """UniC-p makes UniP-p one order higher: halving the step (uniform log-SNR grid, no lower-order
    final steps) divides the error against a 1024-step solve by about 2^(p+1)."""
    x = _x(128, seed=1)
    kw = dict(order=order, lower_order_final=False, sigma_data=sigma_data)
    ref = _last_state(difflab.samplers.sample_unipc, 1024, x, order=3, lower_order_final=False, sigma_data=None)
    err = [(_last_state(difflab.samplers.sample_unipc, n, x, **kw) - ref).pow(2).mean().sqrt().item() for n in (32, 64)]
    assert math.log2(err[0] / err[1]) > expected - 0.6, err


def test_unipc_tau_final_step_converges_where_lambda_stalls():
    """Gaussian data N(mu, std^2): the exact ODE solution is x(0) = mu + std (x_T - mu) / sqrt(std^2 + sigma_max^2).
    In lambda the last step must return D(x; sigma_min), whose shrinkage std^2 / (std^2 + sigma_min^2) no
    step count removes; with sigma_data = std, D along the path is affine in tau and the last step
    extrapolates it to sigma = 0, so the error keeps falling with the step count."""
    std, mu, s_max = 0.5, 0.3, 80.0
    den = GaussianMixture([1.0], [[mu]], [std**2]).denoiser(DiscreteSchedule("linear", 1000))
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None] * math.sqrt(std**2 + s_max**2) + mu
    exact = mu + std * (x - mu) / math.sqrt(std**2 + s_max**2)

    def err(n, sigma_data):
        out = difflab.samplers.sample_unipc(den, x, log_snr_grid(0.05, s_max, n), order=2, sigma_data=sigma_data)
        return (out - exact).abs().max().item()

    tau = [err(n, std) for n in (12, 24, 48)]
    lam = [err(n, None) for n in (24, 48)]
    assert tau[0] > 2 * tau[1] > 4 * tau[2] and tau[2] < 1e-3, tau
    assert lam[1] > 0.5 * lam[0] and lam[1] > 4 * tau[2], lam  # stalled at the final D's bias


def test_tau_weights_integrate_affine_in_tau_exactly():
    lams, nxt, c = [-1.0, -2.2], 0.4, 0.7
    w = exp_integrator_weights(lams, nxt, sigma_data=c)
    tau = lambda lam: 1 / math.sqrt(c**2 + math.exp(-2 * lam))  # noqa: E731
    u = torch.linspace(lams[0], nxt, 200_001, dtype=torch.float64)
    for f in (lambda t: 1.0 + 0 * t, lambda t: t):
        approx = sum(wj * f(tau(lj)) for wj, lj in zip(w, lams))
        exact = torch.trapezoid(torch.exp(-(nxt - u)) * f(1 / torch.sqrt(c**2 + torch.exp(-2 * u))), u).item()
        assert approx == pytest.approx(exact, rel=1e-8, abs=1e-12)


def test_tuned_grid_unipc_reproduces_mixture_in_10_steps():
    x = difflab.sample(DEN, (6000, 2), "unipc", 10, spacing="tuned", generator=torch.Generator().manual_seed(0))
    assert sw_ratio(x, GMM.sample) < 1.6


def test_sigma_data_must_be_positive():
    with pytest.raises(ValueError, match="sigma_data"):
        difflab.sample(DEN, (4, 2), "unipc", 5, generator=0, sigma_data=0.0)


def test_lms_coefficients_integrate_cubics_exactly():
    """Adams-Bashforth weights: sum_j c_j f(s_j) = int f for every polynomial f of degree < k."""
    from difflab.samplers.lms import lms_weights

    nodes, lo, hi = [3.0, 5.0, 8.0, 13.0], 3.0, 1.2
    for coeffs in ([1.0], [2.0, -1.0], [0.5, 0.0, 3.0], [-1.0, 2.0, 0.25, 4.0]):
        f = lambda s: sum(c * s**p for p, c in enumerate(coeffs))  # noqa: E731
        exact = sum(c * (hi ** (p + 1) - lo ** (p + 1)) / (p + 1) for p, c in enumerate(coeffs))
        approx = sum(c * f(t) for c, t in zip(lms_weights(nodes, lo, hi), nodes))
        assert approx == pytest.approx(exact, rel=1e-12)


def test_lms_order1_is_euler_and_order4_converges():
    sig = _grid(12)
    x = _x() * math.sqrt(1 + sig[0] ** 2)
    torch.testing.assert_close(difflab.samplers.sample_lms(DEN, x, sig, order=1),
                               difflab.samplers.sample_euler(DEN, x, sig), rtol=0, atol=1e-12)
    fine = difflab.samplers.sample_lms(DEN, x, _grid(400))
    errors = [float((difflab.samplers.sample_lms(DEN, x, _grid(n)) - fine).abs().max()) for n in (25, 50)]
    euler = float((difflab.samplers.sample_euler(DEN, x, _grid(50)) - fine).abs().max())
    assert errors[1] < errors[0] / 4 and errors[1] < euler / 5  # measured: 5.3x and 8x

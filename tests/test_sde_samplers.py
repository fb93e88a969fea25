"""Reverse-SDE, annealed-Langevin and probability-flow-ODE samplers: the mathematics.

The exact Gaussian-mixture denoiser (closed-form E[x0 | x] at every noise
level) stands in for a perfectly trained network, so every error left is the
sampler's own.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from difflab import SAMPLERS, DiscreteSchedule, VESchedule, VPSchedule, sample
from difflab.grids import log_snr_grid
from difflab.metrics import noise_floor, sliced_wasserstein
from difflab.metrics.wasserstein import _directions
from difflab.models import GaussianMixture, eight_gaussians
from difflab.samplers.langevin import sample_langevin
from difflab.samplers.ode import sample_ode
from difflab.samplers.sde import (
    CORRECTORS,
    PREDICTORS,
    euler_maruyama_step,
    langevin_corrector,
    reverse_diffusion_step,
    sample_euler_maruyama,
    sample_pc,
)
from difflab.tensors import generators, randn

F64 = torch.float64
GMM = eight_gaussians()
SCHEDULES = {"vp": VPSchedule(), "ve": VESchedule(), "ddpm": DiscreteSchedule()}


def gaussian_1d(var: float) -> GaussianMixture:
    return GaussianMixture([1.0], [[0.0]], [var])


def start(n: int, sigma: float, var: float, seed: int) -> torch.Tensor:
    """Exact draws from p(x; sigma) = N(0, var + sigma^2) of 1-D Gaussian data."""
    return math.sqrt(var + sigma**2) * torch.randn(n, 1, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ----------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------


def test_registered():
    assert SAMPLERS["euler-maruyama"] is sample_euler_maruyama
    assert SAMPLERS["pc"] is sample_pc
    assert SAMPLERS["langevin"] is sample_langevin
    assert SAMPLERS["ode"] is sample_ode
    assert set(PREDICTORS) == {"euler-maruyama", "reverse-diffusion"}
    assert set(CORRECTORS) == {"langevin", "none"}


def test_rk45_needs_two_nonzero_levels():
    """A one-step grid [sigma_max, 0] leaves rk45 nothing to integrate: refuse it rather than return D(x; sigma_max)."""
    with pytest.raises(ValueError, match="steps >= 2"):
        sample(GMM.denoiser(SCHEDULES["vp"]), torch.zeros(2, 2, dtype=F64), "ode", 1, method="rk45")


@pytest.mark.parametrize(
    "sampler, options, words",
    [
        ("pc", {"predictor": "heun"}, ["predictor", "euler-maruyama", "reverse-diffusion"]),
        ("pc", {"corrector": "ald"}, ["corrector", "langevin", "none"]),
        ("pc", {"snr": 0.0}, ["snr"]),
        ("pc", {"corrector_steps": -1}, ["corrector_steps"]),
        ("pc", {"snr_norms": "global"}, ["snr_norms", "sigma", "sample", "batch"]),
        ("langevin", {"eps": -1.0}, ["eps"]),
        ("langevin", {"steps_per_level": 0}, ["steps_per_level"]),
        ("ode", {"method": "rk4"}, ["method", "euler", "heun", "rk45"]),
        ("ode", {"rtol": 0.0}, ["rtol"]),
    ],
)
def test_bad_options_are_named(sampler, options, words):
    with pytest.raises(ValueError) as err:
        sample(GMM.denoiser(SCHEDULES["vp"]), torch.zeros(2, 2, dtype=F64), sampler, 3, **options)
    for w in words:
        assert w in str(err.value)


# ----------------------------------------------------------------------------------
# Update equations against closed forms (1-D Gaussian data, so D(x; sigma) is linear)
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("predictor", ["euler-maruyama", "reverse-diffusion"])
def test_predictor_variance_recursion(predictor):
    """For data N(0, c^2), D(x; s) = c^2 / (c^2 + s^2) x, so one step maps Var x = V to
    EM:  (1 - d/(c^2+s^2))^2 V + d                             (d = s^2 - s'^2)
    RD:  a^2 (2 - a - d/(c^2+s^2))^2 V + a^2 d,  a = sqrt((1+s'^2)/(1+s^2)),
    and the final denoising step multiplies it by (c^2/(c^2+s_min^2))^2."""
    c2, n = 0.25, 200_000
    model = gaussian_1d(c2).denoiser(VESchedule(sigma_min=0.01, sigma_max=10.0))
    sigmas = log_snr_grid(0.05, 5.0, 12)
    x = start(n, float(sigmas[0]), c2, seed=0)
    var = c2 + float(sigmas[0]) ** 2
    for s, s_next in zip(sigmas[:-2].tolist(), sigmas[1:-1].tolist()):
        d, V = s**2 - s_next**2, c2 + s**2
        if predictor == "euler-maruyama":
            var = (1 - d / V) ** 2 * var + d
        else:
            a = math.sqrt((1 + s_next**2) / (1 + s**2))
            var = a**2 * (2 - a - d / V) ** 2 * var + a**2 * d
    s_min = float(sigmas[-2])
    var *= (c2 / (c2 + s_min**2)) ** 2
    out = sample(model, x / math.sqrt(1 + float(sigmas[0]) ** 2), "pc", sigmas=sigmas, generator=torch.Generator().manual_seed(1), predictor=predictor, corrector="none")
    assert out.mean().abs() < 5 * math.sqrt(var / n)
    assert out.var().item() == pytest.approx(var, rel=0.015)


def test_reverse_diffusion_is_song_eq47_in_vp_coordinates():
    """Song et al. 2021 app. E's DDPM reverse-diffusion step applied literally to y = x / sqrt(1 + sigma^2)."""
    model = GMM.denoiser(SCHEDULES["vp"])
    x = 3 * torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    s, s_next = 3.0, 2.2
    x0 = model(x, s)
    score_x = (x0 - x) / s**2
    c, c_next = (1 + s**2) ** -0.5, (1 + s_next**2) ** -0.5
    beta = 1 - (c / c_next) ** 2  # VP chain y = sqrt(1 - beta) y' + sqrt(beta) z
    y, score_y = c * x, score_x / c
    z = randn(x.shape, generators(5, 64), dtype=F64)
    y_next = (2 - math.sqrt(1 - beta)) * y + beta * score_y + math.sqrt(beta) * z
    ours = reverse_diffusion_step(x, x0, s, s_next, generators(5, 64))
    torch.testing.assert_close(ours, y_next / c_next, rtol=1e-12, atol=1e-12)
    # and the SMLD (VE) case of app. E is the Euler-Maruyama step in sigma^2
    em = euler_maruyama_step(x, x0, s, s_next, generators(5, 64))
    torch.testing.assert_close(em, x + (s**2 - s_next**2) * score_x + math.sqrt(s**2 - s_next**2) * z, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("snr", [0.3, 0.6])
def test_langevin_corrector_stationary_variance(snr):
    """On isotropic N(0, V I) in high dimension ||z||^2 ~ D and ||g||^2 ~ D V' / V^2, so
    eps = 2 r^2 V^2 / V' and the chain x <- (1 - eps/V) x + sqrt(2 eps) z settles at
    V' = V / (1 - eps / (2V)), i.e. V' = V (1 + r^2): the corrector's bias, in closed form."""
    dim, n, c2, sigma = 400, 200, 0.3, 0.4
    data = GaussianMixture([1.0], torch.zeros(1, dim), [c2])
    model = data.denoiser(VESchedule())
    V = c2 + sigma**2
    x = math.sqrt(V) * torch.randn(n, dim, generator=torch.Generator().manual_seed(0), dtype=F64)
    x = langevin_corrector(model, x, sigma, cond={}, generator=torch.Generator().manual_seed(1), snr=snr, steps=60,
                           snr_norms="sample")
    assert x.var().item() == pytest.approx(V * (1 + snr**2), rel=0.02)


@pytest.mark.parametrize("snr", [0.3, 0.6])
def test_langevin_corrector_sigma_norms_stationary_variance(snr):
    """The default step eps = 2 (r sigma)^2: the chain x <- (1 - eps/V) x + sqrt(2 eps) z on
    N(0, V I) settles at V' = V / (1 - eps / (2V)) (a stationary AR(1) variance)."""
    dim, n, c2, sigma = 200, 500, 0.3, 0.4
    model = GaussianMixture([1.0], torch.zeros(1, dim), [c2]).denoiser(VESchedule())
    V = c2 + sigma**2
    eps = 2 * (snr * sigma) ** 2
    x = math.sqrt(V) * torch.randn(n, dim, generator=torch.Generator().manual_seed(0), dtype=F64)
    x = langevin_corrector(model, x, sigma, cond={}, generator=torch.Generator().manual_seed(1), snr=snr, steps=60)
    assert x.var().item() == pytest.approx(V / (1 - eps / (2 * V)), rel=0.02)


def test_annealed_langevin_stationary_variance():
    """Algorithm 1's step x <- (1 - alpha/(2V)) x + sqrt(alpha) z on N(0, V) has the
    stationary variance V / (1 - alpha / (4V)) (unadjusted Langevin's bias)."""
    c2, sigma, n = 0.2, 0.3, 100_000
    V = c2 + sigma**2
    model = gaussian_1d(c2).denoiser(VESchedule())
    x = start(n, sigma, c2, seed=0)
    grid = torch.tensor([sigma, 0.0], dtype=F64)
    for alpha in (0.5 * V, V):
        out = sample_langevin(model, x, grid, generator=torch.Generator().manual_seed(1), eps=alpha, steps_per_level=60, denoise=False)
        assert out.var().item() == pytest.approx(V / (1 - alpha / (4 * V)), rel=0.015)


def test_ode_convergence_orders():
    """For N(0, c^2) data the ODE is solved by x(sigma) = x(sigma_0) sqrt((c^2 + sigma^2)/(c^2 + sigma_0^2)):
    Euler's error halves and Heun's quarters when the steps double; RK45 meets its tolerance."""
    c2 = 0.3
    model = gaussian_1d(c2).denoiser(VESchedule(sigma_min=0.01, sigma_max=50.0))
    x = start(16, 20.0, c2, seed=0)

    def exact(sig):
        s_min = float(sig[-2])
        return c2 / (c2 + s_min**2) * x * math.sqrt((c2 + s_min**2) / (c2 + float(sig[0]) ** 2))

    errors = {}
    for method in ("euler", "heun"):
        errors[method] = []
        for steps in (10, 20, 40):
            sig = log_snr_grid(0.02, 20.0, steps)
            errors[method].append((sample_ode(model, x, sig, method=method) - exact(sig)).abs().max().item())
    for e0, e1 in zip(errors["euler"], errors["euler"][1:]):
        assert 1.6 < e0 / e1 < 2.5
    for e0, e1 in zip(errors["heun"], errors["heun"][1:]):
        assert 3.2 < e0 / e1 < 5.0
    sig = log_snr_grid(0.02, 20.0, 3)
    out = sample_ode(model, x, sig, method="rk45", rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(out, exact(sig), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------
# Equivalences between samplers
# ----------------------------------------------------------------------------------


def test_pc_without_corrector_is_euler_maruyama():
    model = GMM.denoiser(SCHEDULES["vp"])
    noise = randn((32, 2), generators(3, 32), dtype=F64)
    a, info_a = sample(model, noise, "euler-maruyama", 25, generator=generators(7, 32), return_info=True)
    b, info_b = sample(model, noise, "pc", 25, generator=generators(7, 32), return_info=True, predictor="euler-maruyama", corrector="none")
    assert torch.equal(a, b)
    assert info_a.nfe == info_b.nfe == 25


@pytest.mark.parametrize("schedule", ["ddpm", "vp"])
def test_ode_euler_is_ddim(schedule):
    """An Euler step of dx/dsigma = (x - D)/sigma is DDIM with eta = 0 (Karras et al. 2022, sec. 4)."""
    model = GMM.denoiser(SCHEDULES[schedule])
    noise = randn((64, 2), 0, dtype=F64)
    a, info_a = sample(model, noise, "ode", 30, method="euler", return_info=True)
    b = sample(model, noise, "ddim", 30, eta=0.0)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert info_a.nfe == 30


@pytest.mark.parametrize(
    "sampler, options",
    [
        ("euler-maruyama", {}),
        ("pc", {}),
        ("pc", {"predictor": "reverse-diffusion", "corrector_steps": 2}),
        ("langevin", {"steps_per_level": 3}),
    ],
)
def test_batch_equals_batches_of_one(sampler, options):
    """With one generator per sample, sample i of a batch is the batch of one seeded seed + i."""
    model = GMM.denoiser(SCHEDULES["ve"])
    n, seed = 5, 11
    gens = generators(seed, n)
    batch = sample(model, randn((n, 2), gens, dtype=F64), sampler, 8, generator=gens, **options)
    for i in range(n):
        g = generators(seed + i, 1)
        one = sample(model, randn((1, 2), g, dtype=F64), sampler, 8, generator=g, **options)
        torch.testing.assert_close(batch[i : i + 1], one, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------------
# NFE and callbacks
# ----------------------------------------------------------------------------------


def counted_model(schedule):
    """The exact denoiser with a counter on the underlying function (what NFE must count)."""
    model = GMM.denoiser(schedule)
    inner, calls = model.net, [0]

    def net(x_t, t):
        calls[0] += 1
        return inner(x_t, t)

    model.net = net
    return model, calls


@pytest.mark.parametrize(
    "sampler, steps, options, nfe",
    [
        ("euler-maruyama", 12, {}, 12),
        ("pc", 12, {"corrector_steps": 2}, 36),
        ("pc", 12, {"corrector": "none"}, 12),
        ("langevin", 6, {"steps_per_level": 4}, 25),
        ("langevin", 6, {"steps_per_level": 4, "denoise": False}, 24),
        ("ode", 12, {"method": "euler"}, 12),
        ("ode", 12, {"method": "heun"}, 23),
        ("ode", 12, {"method": "rk45", "rtol": 1e-3, "atol": 1e-3}, None),
    ],
)
def test_nfe_and_callbacks(sampler, steps, options, nfe):
    model, calls = counted_model(SCHEDULES["vp"])
    seen = []
    x, info = sample(model, randn((16, 2), 0, dtype=F64), sampler, steps, generator=1, callback=seen.append, return_info=True, **options)
    assert info.nfe == calls[0]
    if nfe is not None:
        assert info.nfe == nfe
    else:
        assert info.nfe > 10
    assert [r["i"] for r in seen] == list(range(len(seen)))
    assert seen[-1]["sigma_next"] == 0
    if sampler in ("euler-maruyama", "pc") or options.get("method") in ("euler", "heun"):
        assert len(seen) == steps  # once per grid step
    if sampler == "langevin":
        assert len(seen) == info.nfe
    if options.get("method") == "rk45":
        # one report per accepted step, each with D(x; sigma) at the reported point
        for r in seen[:: max(1, len(seen) // 4)]:
            torch.testing.assert_close(r["x0"], model(r["x"], r["sigma"]), rtol=1e-8, atol=1e-8)
        assert [r["sigma"] for r in seen[1:]] == [r["sigma_next"] for r in seen[:-1]]


def test_langevin_uses_only_nonzero_levels():
    model = GMM.denoiser(SCHEDULES["ve"])
    seen = []
    grid = torch.tensor([5.0, 1.0, 0.2, 0.0], dtype=F64)
    sample(model, (4, 2), "langevin", sigmas=grid, generator=0, callback=seen.append, steps_per_level=2)
    assert [r["sigma"] for r in seen] == [5.0, 5.0, 1.0, 1.0, 0.2, 0.2, 0.2]
    assert [r["sigma_next"] for r in seen] == [5.0, 1.0, 1.0, 0.2, 0.2, 0.2, 0.0]


# ----------------------------------------------------------------------------------
# Every sampler reproduces the 8-Gaussian mixture
# ----------------------------------------------------------------------------------

N_SAMPLES = 20_000


def sorted_projections(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    return torch.sort((x.to(F64) @ theta).T, dim=1).values


@functools.lru_cache(maxsize=None)
def reference():
    """conftest.sw_ratio's three true draws (sorted along sliced_wasserstein's 256
    directions) and its noise floor, computed once for all the cases below."""
    theta = _directions(2, 256, seed=0)
    truths = [GMM.sample(N_SAMPLES, torch.Generator().manual_seed(500 + s)) for s in range(3)]
    floor = sum(noise_floor(GMM.sample, N_SAMPLES, seed=s) for s in range(3)) / 3
    return theta, [sorted_projections(t, theta) for t in truths], floor


def sw_ratio(x: torch.Tensor) -> float:
    """conftest.sw_ratio(x, GMM.sample): mean SW2 to the three true draws over the noise
    floor, with x's projections sorted once instead of once per true draw."""
    theta, truths, floor = reference()
    px = sorted_projections(x, theta)
    return sum(((px - pt) ** 2).mean().sqrt().item() for pt in truths) / len(truths) / floor


def test_sorted_projections_give_sliced_wasserstein():
    x, y = GMM.sample(2000, 1), eight_gaussians(std=0.25).sample(2000, 2)
    theta = _directions(2, 256, seed=0)
    sw = ((sorted_projections(x, theta) - sorted_projections(y, theta)) ** 2).mean().sqrt().item()
    assert sw == pytest.approx(sliced_wasserstein(x, y), rel=1e-12)


QUALITY = [
    ("langevin", "ve", 20, {"spacing": "log-snr"}),
    ("langevin", "vp", 20, {"spacing": "log-snr"}),
    ("pc", "ve", 50, {}),
    ("pc", "vp", 50, {}),
    ("pc", "ddpm", 100, {"predictor": "reverse-diffusion", "corrector": "none"}),
    ("euler-maruyama", "ve", 100, {}),
    pytest.param("ode", "vp", 10, {"method": "rk45"}, marks=pytest.mark.slow),
    ("ode", "ve", 10, {"method": "rk45", "rtol": 1e-3, "atol": 1e-3}),
    ("ode", "vp", 18, {"method": "heun", "spacing": "karras"}),
    ("ode", "ve", 18, {"method": "heun", "spacing": "karras"}),
]


@pytest.mark.slow
@pytest.mark.once
@pytest.mark.parametrize("sampler, schedule, steps, options", QUALITY, ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(map(str, v.values())))
def test_reproduces_eight_gaussians(sampler, schedule, steps, options):
    """Sliced W2 to the truth (mean over 3 true draws) within 1.5x the noise floor
    (mean SW2 between two true draws, 3 seeds), 20,000 samples."""
    model = GMM.denoiser(SCHEDULES[schedule])
    noise = randn((N_SAMPLES, 2), torch.Generator().manual_seed(1), dtype=F64)
    x, info = sample(model, noise, sampler, steps, generator=torch.Generator().manual_seed(2), return_info=True, **options)
    ratio = sw_ratio(x)
    print(f"NFE {sampler} {schedule} steps={steps} {options}: nfe={info.nfe} sw2/floor={ratio:.3f}")
    assert ratio < 1.5

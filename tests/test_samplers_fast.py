"""Fast samplers (issue 5): equivalences with the basic ones and convergence on the exact mixture."""

import math

import pytest
import torch

import difflab
from difflab.grids import karras_grid
from difflab.models import eight_gaussians
from difflab.samplers.dpm_solver import exp_integrator_weights
from difflab.schedules import DiscreteSchedule
from difflab.tensors import generators

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
    sig = _grid(6)
    x = _x() * math.sqrt(1 + sig[0] ** 2)
    torch.testing.assert_close(difflab.samplers.sample_heun(DEN, x, sig),
                               difflab.samplers.sample_ode(DEN, x, sig, method="heun"))


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
    ("dpmpp-2m", 20, {}), ("dpmpp-2m-sde", 30, {}), ("deis", 20, {"order": 3}), ("heun", 15, {}),
    ("euler", 30, {"churn": 10.0}), ("dpm-adaptive", 10, {}),
])
def test_fast_samplers_reproduce_mixture(sampler, steps, opts):
    x, info = difflab.sample(DEN, (6000, 2), sampler, steps, spacing="karras", generator=torch.Generator().manual_seed(0),
                             return_info=True, **opts)
    assert sw_ratio(x, GMM.sample) < 2.0, sampler


@pytest.mark.parametrize("sampler,opts", [("dpmpp-2m-sde", {}), ("euler", {"churn": 5.0})])
def test_stochastic_fast_samplers_batch_invariant(sampler, opts):
    a = difflab.sample(DEN, (5, 2), sampler, 10, generator=3, **opts)
    b = torch.cat([difflab.sample(DEN, (1, 2), sampler, 10, generator=3 + i, **opts) for i in range(5)])
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_nfe_counts():
    for name, steps, nfe in [("heun", 5, 9), ("dpmpp-2m", 5, 5), ("deis", 7, 7)]:
        _, info = difflab.sample(DEN, (4, 2), name, steps, spacing="karras", generator=0, return_info=True)
        assert info.nfe == nfe, name
    _, info = difflab.sample(DEN, (4, 2), "dpm-adaptive", 5, spacing="karras", generator=0, return_info=True)
    assert info.nfe % 2 == 1 and info.nfe > 3

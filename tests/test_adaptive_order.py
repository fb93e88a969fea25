"""UniPC's per-sample order (issue 17): the order rises above 2 only where the sample's own outputs
say the higher-degree interpolant holds."""

import math

import torch

import difflab
from difflab.grids import log_snr_grid
from difflab.models import GaussianMixture, eight_gaussians, random_mixture
from difflab.samplers import sample_unipc
from difflab.samplers.dpm_solver import _adaptive_orders
from difflab.schedules import DiscreteSchedule

SCHEDULE = DiscreteSchedule("linear", 1000)
DEN = eight_gaussians().denoiser(SCHEDULE)


def _x(n, dim=2, seed=0, sigma=20.0):
    return torch.randn(n, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * math.sqrt(1 + sigma**2)


def test_orders_up_to_2_are_the_fixed_order_bit_for_bit():
    g = log_snr_grid(0.05, 20.0, 9)
    for order in (1, 2):
        a = sample_unipc(DEN, _x(64), g, order=order)
        b = sample_unipc(DEN, _x(64), g, order=order, adaptive_order=False)
        assert torch.equal(a, b)


def test_gaussian_data_keep_the_full_order():
    """For Gaussian data of std sigma_data, D along the path is affine in tau: every extrapolation
    of degree >= 1 predicts the next output (to the steps' error) and the constant one does not,
    so each step runs at the full order, as the fixed order does."""
    std = 0.5
    den = GaussianMixture([1.0], [[0.3, -0.2]], [[std**2, std**2]]).denoiser(SCHEDULE)
    g = log_snr_grid(0.02, 20.0, 12)
    a = sample_unipc(den, _x(32), g, sigma_data=std)
    b = sample_unipc(den, _x(32), g, sigma_data=std, adaptive_order=False)
    assert torch.equal(a, b)


def test_the_rule_on_hand_made_outputs():
    """Outputs on a straight line in tau: order 3 at a cap of 3 (2 at a cap of 2); a sample whose
    newest output the line through its past ones misses by more than the last past output does:
    order 2, while the others keep 3."""
    lams = [0.5, 0.0, -0.5, -1.0]  # the new level first, then the past ones
    tau = [1 / math.sqrt(1 + math.exp(-2 * lam)) for lam in lams]
    line = [torch.full((3, 2), 2.0 * t + 1.0, dtype=torch.float64) for t in tau]
    assert _adaptive_orders(line[0], line[1:], lams, 3, 1.0).tolist() == [3, 3, 3]
    assert _adaptive_orders(line[0], line[1:], lams, 2, 1.0).tolist() == [2, 2, 2]
    # a turn: the last output jumps back, so the line through the two past outputs overshoots it
    # by more than the last past output alone misses it
    turned = line[0].clone()
    turned[1] = line[1][1]  # sample 1 stays where it was
    assert _adaptive_orders(turned, line[1:], lams, 3, 1.0).tolist() == [3, 2, 3]


def test_each_sample_chooses_alone():
    """A sample's path does not depend on the other samples of its batch."""
    mix = random_mixture(170)
    den = mix.denoiser(SCHEDULE)
    g = torch.as_tensor(difflab.grids.tuned_grid(float(SCHEDULE.ve_sigma_max), 7, sigma_data=0.35, dim=2.0,
                                                  size=float(mix.dim)))
    x = _x(96, mix.dim, sigma=float(g[0]))
    full = sample_unipc(den, x, g, sigma_data=0.35)
    part = sample_unipc(den, x[17:41], g, sigma_data=0.35)
    assert torch.allclose(full[17:41], part, rtol=0, atol=1e-9)  # another order would move it by far more


def test_a_turn_between_two_modes_is_not_extrapolated():
    """Two modes far apart in 106 dimensions (tuning mixture 170), 7 steps on the default path:
    the fixed order 3 extrapolates a quadratic across the levels where each sample is sent to a mode
    and lands far from the converged solve of the same noise; the per-sample order stays near it."""
    mix = random_mixture(170)
    den = mix.denoiser(SCHEDULE)
    noise = torch.randn(512, mix.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    reference = difflab.sample(den, noise, "unipc", 200, order=2)

    def distance(**options):
        return (difflab.sample(den, noise, "unipc", 7, **options) - reference).pow(2).sum(1).mean().sqrt().item()

    adaptive, fixed, second = distance(), distance(adaptive_order=False), distance(order=2)
    assert adaptive < 0.5 * fixed, (adaptive, fixed)
    assert adaptive < 1.2 * second, (adaptive, second)

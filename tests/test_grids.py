import pytest
import torch

from difflab.grids import ddpm_indices, index_grid, karras_grid, log_snr_grid, make_grid, uniform_t_grid
from difflab.schedules import DiscreteSchedule, VESchedule, VPSchedule

T = 1000
STEP_COUNTS = list(range(1, 40)) + [97, 101, 127, 250, 333, 499, 500, 501, 997, 999, 1000]


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
@pytest.mark.parametrize("n", STEP_COUNTS)
def test_ddpm_indices_valid(spacing, n):
    idx = ddpm_indices(T, n, spacing)
    assert len(idx) == n
    assert all(a > b for a, b in zip(idx, idx[1:])), "strictly decreasing, noisiest first"
    assert 0 <= idx[-1] and idx[0] <= T - 1
    if spacing in ("linspace", "trailing"):
        assert idx[0] == T - 1, "starts at the noisiest index"
    if spacing in ("linspace", "leading") and n > 1:
        assert idx[-1] == 0, "ends at the cleanest index"


def test_ddpm_indices_every_count_small_table():
    for T_small in (1, 2, 7, 10, 13):
        for n in range(1, T_small + 1):
            for spacing in ("linspace", "leading", "trailing"):
                idx = ddpm_indices(T_small, n, spacing)
                assert len(idx) == n == len(set(idx))


def test_ddpm_indices_match_lin_et_al_table2():
    # Lin et al. 2023, Table 2 (T = 1000, 10 steps), written 0-based
    assert ddpm_indices(1000, 10, "linspace") == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert ddpm_indices(1000, 10, "leading") == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert ddpm_indices(1000, 10, "trailing") == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert ddpm_indices(1000, 1000, "trailing") == list(range(999, -1, -1))


def test_index_grid_levels():
    s = DiscreteSchedule("linear", T)
    g = index_grid(s, 10, "trailing")
    assert len(g) == 11 and g[-1] == 0
    ab = s.alphas_cumprod[999]
    assert g[0].item() == pytest.approx(((1 - ab) / ab).sqrt().item())


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_continuous_grids_end_at_zero(n):
    for grid in (uniform_t_grid(VPSchedule(), n), karras_grid(0.002, 80, n), log_snr_grid(0.01, 10, n)):
        assert len(grid) == n + 1 and grid[-1] == 0
        assert (grid[:-1] > grid[1:]).all()


def test_karras_endpoints():
    g = karras_grid(0.002, 80.0, 18, rho=7)
    assert g[0].item() == pytest.approx(80.0) and g[-2].item() == pytest.approx(0.002)


def test_make_grid_errors():
    with pytest.raises(ValueError, match="positive integer"):
        make_grid(VPSchedule(), 0)
    with pytest.raises(ValueError, match="at most T"):
        make_grid(DiscreteSchedule("linear", 10), 11)
    with pytest.raises(ValueError, match="needs a DDPM table"):
        make_grid(VESchedule(), 10, "trailing")
    with pytest.raises(ValueError, match="unknown spacing"):
        make_grid(VESchedule(), 10, "fancy")
    assert make_grid(VESchedule(), 5, "karras")[0].item() == pytest.approx(50.0)
    torch.testing.assert_close(make_grid(DiscreteSchedule(), 7), index_grid(DiscreteSchedule(), 7, "trailing"))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 10, 15, 20, 50, 100, 300])
def test_tuned_grid_shape(n):
    from difflab.grids import tuned_grid

    s = DiscreteSchedule("linear", T)
    g = make_grid(s, n, "tuned")
    assert len(g) == n + 1 and g[-1] == 0
    assert (g[:-1] > g[1:]).all()
    assert g[0].item() == pytest.approx(s.ve_sigma_max)
    assert g[-2].item() >= s.ve_sigma_min * (1 - 1e-12)
    torch.testing.assert_close(tuned_grid(s.ve_sigma_max, n, s.ve_sigma_min), g)


def test_tuned_grid_follows_its_rule_and_scales_with_the_data():
    import math

    from difflab.grids import TUNED_BOTTOM, TUNED_DECAY, TUNED_TOP, tuned_grid

    for n in (5, 10, 20):
        for sd, dim in ((1.0, 1), (0.3, 64), (2.0, 4)):
            g = tuned_grid(1e4, n, 1e-4, sigma_data=sd, dim=dim)
            assert g[1].item() == pytest.approx(TUNED_TOP * sd * math.sqrt(dim))
            assert g[-2].item() == pytest.approx(TUNED_BOTTOM * sd * (n / 5) ** TUNED_DECAY)
            logs = torch.log(g[1:-1])  # uniform in log sigma after the first jump
            torch.testing.assert_close(logs[1:] - logs[:-1], (logs[1:] - logs[:-1]).mean().expand(n - 2))
        # the levels between the ends scale with sigma_data
        torch.testing.assert_close(tuned_grid(1e4, n, 1e-6, sigma_data=0.5)[1:-1], 0.5 * tuned_grid(1e4, n, 1e-6)[1:-1])
    # data spread along few of many coordinates (two modes far apart): the top follows the spread
    from difflab.grids import TUNED_SPREAD

    g = tuned_grid(1e4, 8, 1e-4, sigma_data=0.5, dim=1.0, size=400)
    assert g[1].item() == pytest.approx(TUNED_SPREAD * 0.5 * 20)
    # the ends stay inside the model's range, and sigma_lo at most half sigma_hi
    g = tuned_grid(157.0, 10, 0.01, sigma_data=50.0, dim=100)
    assert g[1].item() == pytest.approx(157.0 / 2) and g[-2].item() <= g[1].item() / 2
    g = tuned_grid(157.0, 50, 0.01, sigma_data=0.01)
    assert g[-2].item() == pytest.approx(0.01)
    # more steps reach lower
    ends = [tuned_grid(157.0, n, 1e-3)[-2].item() for n in range(5, 101)]
    assert all(a >= b * (1 - 1e-12) for a, b in zip(ends, ends[1:]))


def test_tuned_grid_splits_the_first_jump_where_the_spread_sets_it():
    import math

    from difflab.grids import TUNED_SPLIT_STEPS, TUNED_SPREAD, TUNED_TOP, tuned_grid

    # few directions of many carry the data (spread term 2 * 0.5 * 20 = 20 above the top term 2):
    # from TUNED_SPLIT_STEPS steps on, the rule's grid for one step fewer with sqrt(sigma_max sigma_hi)
    # inserted after sigma_max; below, the plain rule
    spread = dict(sigma_data=0.5, dim=1.0, size=400)
    assert TUNED_SPREAD * 0.5 * 20 > TUNED_TOP * 0.5
    for n in (TUNED_SPLIT_STEPS, TUNED_SPLIT_STEPS + 1, 20, 50):
        g = tuned_grid(1e4, n, 1e-4, **spread)
        fewer = tuned_grid(1e4, n - 1, 1e-4, **spread) if n - 1 < TUNED_SPLIT_STEPS else None
        assert len(g) == n + 1 and g[-1] == 0 and (g[:-1] > g[1:]).all()
        assert g[0].item() == 1e4 and g[2].item() == pytest.approx(20.0)
        assert g[1].item() == pytest.approx(math.sqrt(1e4 * 20.0))
        logs = torch.log(g[2:-1])  # below the split, uniform in log sigma as the rule
        torch.testing.assert_close(logs[1:] - logs[:-1], (logs[1:] - logs[:-1]).mean().expand(n - 3))
        assert g[-2].item() == pytest.approx(tuned_grid(1e4, n - 1, 1e-4, sigma_data=0.5)[-2].item())
        if fewer is not None:
            torch.testing.assert_close(torch.cat([g[:1], g[2:]]), fewer, rtol=0, atol=0)
    g = tuned_grid(1e4, TUNED_SPLIT_STEPS - 1, 1e-4, **spread)
    assert len(g) == TUNED_SPLIT_STEPS and g[1].item() == pytest.approx(20.0)
    # where the top term sets the first level (the fallback sigma_data 1, dim 1 among them) no split
    for n in (TUNED_SPLIT_STEPS, 20):
        for kw in ({}, dict(sigma_data=0.5, dim=64.0, size=100)):
            g = tuned_grid(1e4, n, 1e-4, **kw)
            logs = torch.log(g[1:-1])
            torch.testing.assert_close(logs[1:] - logs[:-1], (logs[1:] - logs[:-1]).mean().expand(n - 2))
    # the split's first level lands where a first-order step scales the widest direction
    # (lambda = (sigma_hi / 2)^2 here) by nearly the exact factor: s / sqrt(lambda + s^2) > 0.99
    s1, lam = math.sqrt(1e4 * 20.0), 10.0**2
    assert s1 / math.sqrt(lam + s1 * s1) > 0.99 and 20.0 / math.sqrt(lam + 400.0) < 0.9


def test_tuned_grid_needs_room():
    from difflab.grids import tuned_grid

    with pytest.raises(ValueError, match="leave no room"):
        tuned_grid(1.0, 10, sigma_min=0.9)


def test_leading_offset_shifts_the_grid_and_is_checked():
    from difflab.grids import ddpm_indices

    assert ddpm_indices(1000, 4, "leading", offset=1) == [751, 501, 251, 1]
    with pytest.raises(ValueError, match="offset applies to the leading spacing only"):
        ddpm_indices(1000, 4, "trailing", offset=1)
    with pytest.raises(ValueError, match="outside the table"):
        ddpm_indices(10, 10, "leading", offset=1)

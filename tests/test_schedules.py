import math

import pytest
import torch

from difflab import processes
from difflab.schedules import (
    DiscreteSchedule, SubVPSchedule, VESchedule, VPSchedule, cosine_betas, linear_betas,
    rescale_zero_terminal_snr, schedule_from_config,
)

ALL = [
    DiscreteSchedule("linear", 1000),
    DiscreteSchedule("cosine", 1000),
    DiscreteSchedule("scaled-linear", 1000),
    DiscreteSchedule("linear", 1000, zero_terminal_snr=True),
    DiscreteSchedule("cosine", 37),
    VPSchedule(),
    SubVPSchedule(),
    VESchedule(0.01, 50.0),
]


def test_linear_table_matches_ho_et_al():
    s = DiscreteSchedule("linear", 1000)
    assert s.betas[0] == pytest.approx(1e-4) and s.betas[-1] == pytest.approx(0.02)
    ab = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)
    torch.testing.assert_close(s.alphas_cumprod, ab)
    # at table points alpha^2 is exactly alpha_bar
    t = s.t_from_index(torch.arange(1000.0, dtype=torch.float64))
    torch.testing.assert_close(s.alpha(t) ** 2, ab)
    torch.testing.assert_close(s.sigma(t) ** 2, 1 - ab)


def test_cosine_alpha_bar_closed_form():
    T, sft = 1000, 0.008
    ab = torch.cumprod(1 - cosine_betas(T, sft), 0)
    i = torch.arange(1, T + 1, dtype=torch.float64)
    f = lambda u: torch.cos((u / T + sft) / (1 + sft) * math.pi / 2) ** 2  # noqa: E731
    expect = f(i) / f(torch.zeros(1, dtype=torch.float64))
    # clipping at 0.999 only touches the very last entries
    torch.testing.assert_close(ab[:-5], expect[:-5], rtol=1e-10, atol=1e-12)


def test_zero_terminal_snr_rescale():
    betas = linear_betas(1000)
    new = rescale_zero_terminal_snr(betas)
    ab_old, ab_new = torch.cumprod(1 - betas, 0), torch.cumprod(1 - new, 0)
    assert ab_new[-1] == pytest.approx(0.0, abs=1e-12)
    assert ab_new[0] == pytest.approx(ab_old[0].item(), rel=1e-12)
    s = DiscreteSchedule("linear", 1000, zero_terminal_snr=True)
    assert s.log_snr(1.0) < -16  # floored at alpha_bar = 2^-24, log-SNR ~ -16.6


@pytest.mark.parametrize("s", ALL, ids=repr)
def test_monotone_and_consistent(s):
    t = torch.linspace(s.t_min, 1, 501, dtype=torch.float64)
    lam = s.log_snr(t)
    assert (lam[1:] < lam[:-1]).all(), "log-SNR must decrease"
    torch.testing.assert_close(s.ve_sigma(t), s.sigma(t) / s.alpha(t))
    torch.testing.assert_close(lam, 2 * torch.log(s.alpha(t) / s.sigma(t)))


@pytest.mark.parametrize("s", ALL, ids=repr)
def test_inverse_maps(s):
    t = torch.linspace(s.t_min, 1, 333, dtype=torch.float64)
    torch.testing.assert_close(s.t_from_ve_sigma(s.ve_sigma(t)), t, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(s.t_from_log_snr(s.log_snr(t)), t, atol=1e-9, rtol=1e-9)


def test_discrete_index_round_trip_is_exact():
    s = DiscreteSchedule("linear", 1000)
    idx = torch.arange(1000, dtype=torch.float64)
    back = s.index_from_t(s.t_from_ve_sigma(s.ve_sigma_at_index(idx.long())))
    assert (back - idx).abs().max() < 1e-9


def test_discrete_interpolates_in_log_sigma():
    s = DiscreteSchedule("linear", 100)
    t = s.t_from_index(torch.tensor([10.0, 11.0, 10.25], dtype=torch.float64))
    ls = torch.log(s.ve_sigma(t))
    assert ls[2].item() == pytest.approx((0.75 * ls[0] + 0.25 * ls[1]).item(), rel=1e-12)


def test_vp_is_the_limit_of_ddpm_linear():
    """DDPM's linear table is the VP SDE discretised with beta_i = beta(t_i)/T (Song et al. 2021,
    sec. 3.4): log alpha_bar = sum log(1 - beta_i) -> -int beta as T grows, error O(1/T)."""
    vp = VPSchedule(0.1, 20.0)
    t = torch.linspace(0.05, 1, 50, dtype=torch.float64)
    errors = [(DiscreteSchedule("linear", T).log_snr(t) - vp.log_snr(t)).abs().max().item() for T in (1000, 10_000)]
    assert errors[1] < 0.02
    assert errors[1] < errors[0] / 8


def test_sde_coefficients_derived_from_alpha_sigma():
    t = torch.linspace(0.01, 1, 20, dtype=torch.float64)
    vp = VPSchedule()
    beta = vp.beta(t)
    torch.testing.assert_close(processes.drift_coefficient(vp, t), -0.5 * beta)
    torch.testing.assert_close(processes.diffusion_squared(vp, t), beta)
    sub = SubVPSchedule()
    B = 0.1 * t + 0.5 * 19.9 * t**2
    torch.testing.assert_close(processes.diffusion_squared(sub, t), beta * (1 - torch.exp(-2 * B)))
    ve = VESchedule(0.01, 50.0)
    sig = ve.sigma(t)
    torch.testing.assert_close(processes.drift_coefficient(ve, t), torch.zeros_like(t))
    torch.testing.assert_close(processes.diffusion_squared(ve, t), 2 * sig**2 * math.log(5000.0))


@pytest.mark.parametrize("s", ALL, ids=repr)
def test_config_round_trip(s):
    s2 = schedule_from_config(s.to_config())
    t = torch.linspace(0, 1, 17, dtype=torch.float64)
    torch.testing.assert_close(s2.log_snr(t), s.log_snr(t))


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="unknown beta table"):
        DiscreteSchedule("quadratic")
    with pytest.raises(ValueError, match="positive integer"):
        DiscreteSchedule("linear", 0)
    with pytest.raises(ValueError, match="unknown schedule type"):
        schedule_from_config({"type": "nope"})


@pytest.mark.parametrize("T", [2, 10, 19, 20])
def test_short_linear_tables_are_valid(T):
    # the T = 1000 endpoints rescaled by 1000 / T pass 1 for T < 20: clipped, never NaN
    sched = DiscreteSchedule("linear", T)
    assert torch.isfinite(sched.sigma(torch.linspace(0, 1, 11))).all()
    assert (linear_betas(T) < 1).all()


def test_one_registry_of_schedule_names():
    from difflab.schedules import PRESETS, DiscreteSchedule, schedule_preset

    assert schedule_preset("ddpm").to_config() == schedule_preset("linear").to_config()
    assert schedule_preset("ddpm-cosine").to_config() == DiscreteSchedule("cosine", 1000).to_config()
    assert {type(schedule_preset(n)).__name__ for n in PRESETS} == {"DiscreteSchedule", "VPSchedule", "SubVPSchedule",
                                                                    "VESchedule"}
    import pytest

    with pytest.raises(ValueError, match="expected one of: ddpm, linear, ddpm-cosine, cosine$"):
        schedule_preset("ve", discrete=True)

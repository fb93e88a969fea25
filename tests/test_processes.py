import pytest
import torch

from difflab import processes
from difflab.schedules import DiscreteSchedule, VESchedule, VPSchedule


def test_iterated_chain_equals_closed_form():
    """Running q(x_t | x_{t-1}) T times reproduces q(x_T | x_0) in mean and variance."""
    s = DiscreteSchedule("linear", 200)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([[1.5, -2.0]], dtype=torch.float64).repeat(100_000, 1)
    x = x0.clone()
    checkpoints = {49: None, 199: None}
    for i in range(200):
        t_prev, t = s.t_from_index(i - 1.0) if i > 0 else 0.0, s.t_from_index(float(i))
        mean, std = processes.transition(s, x, t_prev, t)
        x = mean + std * torch.randn(x.shape, generator=g, dtype=torch.float64)
        if i in checkpoints:
            m, sd = processes.marginal(s, x0, t)
            assert x.mean(0).numpy() == pytest.approx(m[0].numpy(), abs=0.01)
            assert x.std(0).numpy() == pytest.approx(sd[0].numpy(), rel=0.01)


def test_one_step_chain_is_ho_eq2():
    s = DiscreteSchedule("linear", 1000)
    i = 500
    mean, std = processes.transition(s, torch.ones(1, 3, dtype=torch.float64), s.t_from_index(i - 1.0), s.t_from_index(float(i)))
    beta = s.betas[i]
    torch.testing.assert_close(mean, torch.full((1, 3), (1 - beta).sqrt().item(), dtype=torch.float64))
    torch.testing.assert_close(std, torch.full((1, 3), beta.sqrt().item(), dtype=torch.float64))


def test_posterior_is_ho_eqs_6_7():
    s = DiscreteSchedule("linear", 1000)
    i = 300
    ab, ab_prev, beta = s.alphas_cumprod[i], s.alphas_cumprod[i - 1], s.betas[i]
    x_t = torch.randn(4, 2, dtype=torch.float64)
    x0 = torch.randn(4, 2, dtype=torch.float64)
    mean, std = processes.posterior(s, x_t, x0, s.t_from_index(i - 1.0), s.t_from_index(float(i)))
    expect_mean = ab_prev.sqrt() * beta / (1 - ab) * x0 + (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab) * x_t
    expect_var = (1 - ab_prev) / (1 - ab) * beta
    torch.testing.assert_close(mean, expect_mean)
    torch.testing.assert_close(std**2, expect_var.expand(4, 2))


@pytest.mark.parametrize("schedule", [VPSchedule(), VESchedule(0.01, 10.0)], ids=["vp", "ve"])
def test_posterior_is_bayes_consistent(schedule):
    """Drawing x_s ~ q(x_s | x_t, x0) with x_t ~ q(x_t | x0) gives the marginal q(x_s | x0)."""
    g = torch.Generator().manual_seed(1)
    x0 = torch.full((200_000, 1), 0.7, dtype=torch.float64)
    s, t = 0.3, 0.6
    x_t = processes.q_sample(schedule, x0, t, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    mean, std = processes.posterior(schedule, x_t, x0, s, t)
    x_s = mean + std * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    m, sd = processes.marginal(schedule, x0[:1], s)
    assert x_s.mean().item() == pytest.approx(m.item(), abs=0.01 * max(1.0, sd.item()))
    assert x_s.std().item() == pytest.approx(sd.item(), rel=0.01)


def test_prior():
    vp = VPSchedule()
    assert processes.prior_std(vp) == pytest.approx(1.0)
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    d = 12
    expect = -0.5 * x.reshape(5, -1).pow(2).sum(1) - 0.5 * d * torch.log(torch.tensor(2 * torch.pi, dtype=torch.float64))
    torch.testing.assert_close(processes.prior_log_prob(vp, x), expect)
    ve = VESchedule(0.01, 50.0)
    assert processes.prior_std(ve) == pytest.approx((1 + 50.0**2) ** 0.5)
    assert processes.prior_sample(ve, (7, 2), generator=0).shape == (7, 2)


def test_probability_flow_drift_keeps_gaussian_marginals():
    """For Gaussian data N(0, c^2) the score is known; the PF-ODE drift must move the
    variance v(t) = alpha^2 c^2 + sigma^2 at its own rate: d v / dt = 2 E[x . drift]."""
    sch = VPSchedule()
    c2 = 0.25
    t = torch.tensor(0.4, dtype=torch.float64)
    a, s = sch.alpha(t), sch.sigma(t)
    v = a**2 * c2 + s**2
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None]
    drift = processes.probability_flow_drift(sch, x, t, -x / v)
    # linear drift k x with k = (dv/dt) / (2 v)
    h = 1e-6
    v_fn = lambda u: sch.alpha(u) ** 2 * c2 + sch.sigma(u) ** 2  # noqa: E731
    dv = (v_fn(t + h) - v_fn(t - h)) / (2 * h)
    torch.testing.assert_close(drift, dv / (2 * v) * x, rtol=1e-5, atol=1e-8)

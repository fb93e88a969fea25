"""RePaint (Lugmayr et al. 2022): the jump schedule of Algorithm 1, the jump kernel,
and conditional samples of an exact Gaussian oracle against the closed-form conditional."""

import pytest
import torch

import difflab
from difflab.samplers.repaint import forward_jump, jump_schedule
from difflab.tasks.inpaint import repaint
from difflab.models import GaussianMixture


class ScaledOracle:
    """The exact denoiser of a Gaussian mixture, called directly in scaled coordinates
    (x = x_0 + sigma eps, so alpha = 1): D(x; sigma) = E[x_0 | x]. The same function as
    ``mixture.denoiser(schedule)``, without the time conversions, for long runs."""

    def __init__(self, mixture, schedule):
        self.mixture, self.schedule = mixture, schedule

    def __call__(self, x, sigma, **cond):
        return self.mixture.posterior_mean(x, 1.0, sigma)


def gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------
# the schedule
# ---------------------------------------------------------------------------------


def test_jump_schedule_written_out_by_hand():
    # t_T = 5, jump length 2, 2 samplings. Jump points j = 0, 2 (below t_T - 2 = 3).
    # Down 4, 3, 2; at 2 jump up 2 to 4 and come down again to 2; on to 0, jump up
    # to 2, down to 0; then the last step to -1 (clean data).
    assert jump_schedule(5, 2, 2) == [4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0, -1]
    # t_T = 6, jump length 3, 3 samplings: one jump point, j = 0 (range(0, 3, 3)),
    # visited three times: two jumps up to 3.
    assert jump_schedule(6, 3, 3) == [5, 4, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, -1]
    # one sampling: no resampling, the plain reverse chain
    assert jump_schedule(4, 2, 1) == [3, 2, 1, 0, -1]
    # a jump as long as the chain has no jump point
    assert jump_schedule(3, 3, 5) == [2, 1, 0, -1]


def algorithm_1_times(T, U):
    """The times visited by Algorithm 1's two loops (1-based x_t, t = T .. 1): a reverse
    step x_t -> x_{t-1}, then for u < U and t > 1 a forward step back to x_t. At t = 1
    the U passes all compute x_0 from the same x_1 and the last one stands: one visit.
    Returned 0-based (x_t at t - 1; x_0 is -1), the convention of jump_schedule."""
    times = [T - 1]
    for t in range(T, 0, -1):
        for u in range(1, U + 1):
            if t > 1 or u == U:
                times.append(t - 2)  # x_{t-1}
            if u < U and t > 1:
                times.append(t - 1)  # back to x_t
    return times


@pytest.mark.parametrize("T,U", [(5, 3), (8, 1), (12, 4)])
def test_jump_length_one_is_algorithm_1(T, U):
    assert jump_schedule(T, 1, U) == algorithm_1_times(T, U)


@pytest.mark.parametrize("steps,j,r", [(250, 10, 10), (50, 5, 3), (7, 3, 4), (10, 1, 2)])
def test_schedule_shape(steps, j, r):
    times = jump_schedule(steps, j, r)
    assert times[0] == steps - 1 and times[-1] == -1
    assert all(abs(b - a) == 1 for a, b in zip(times, times[1:]))
    assert max(times) == steps - 1 and min(times) == -1
    reverse = sum(b < a for a, b in zip(times, times[1:]))
    assert reverse == steps + (r - 1) * j * len(range(0, steps - j, j))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_schedule_rejects_bad_counts(bad):
    for args in [(bad, 1, 1), (5, bad, 1), (5, 1, bad)]:
        with pytest.raises(ValueError, match="positive integer"):
            jump_schedule(*args)


# ---------------------------------------------------------------------------------
# the jump kernel
# ---------------------------------------------------------------------------------


def test_jump_is_the_multi_step_forward_chain():
    # j one-step kernels q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x, beta_t I) compose to
    # N(sqrt(prod(1 - beta)) x, (1 - prod(1 - beta)) I) (Ho et al. eq. 2, 4)
    schedule = difflab.DiscreteSchedule(T=100)
    i, j = 20, 7
    keep = torch.prod(1 - schedule.betas[i + 1:i + j + 1])
    sig = schedule.ve_sigma_at_index([i, i + j])
    alpha = (1 + sig**2).rsqrt()
    x = torch.tensor([[0.7, -1.3, 2.0]], dtype=torch.float64)  # scaled coordinates at index i
    z = torch.tensor([[0.3, 1.1, -0.4]], dtype=torch.float64)
    up = forward_jump(schedule, x, float(sig[0]), float(sig[1]), z)
    expected = (keep.sqrt() * alpha[0] * x + (1 - keep).sqrt() * z) / alpha[1]
    torch.testing.assert_close(up, expected)


# ---------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------

C3 = torch.tensor([[1.0, 0.9, 0.5], [0.9, 1.0, 0.6], [0.5, 0.6, 1.0]], dtype=torch.float64)


def test_repaint_draws_the_gaussian_conditional():
    # x ~ N(0, C): the unknown coordinates (1, 2) given x_0 = 2 are Gaussian with
    # mean C_uk C_kk^-1 2 and covariance C_uu - C_uk C_kk^-1 C_ku.
    gauss = GaussianMixture([1.0], [[0.0, 0.0, 0.0]], C3[None])
    oracle = ScaledOracle(gauss, difflab.DiscreteSchedule())
    n = 1000
    known = torch.zeros(n, 3, dtype=torch.float64)
    known[:, 0] = 2.0
    mask = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    mean = C3[1:, :1] @ torch.tensor([2.0], dtype=torch.float64)
    cov = C3[1:, 1:] - C3[1:, :1] @ C3[:1, 1:]  # C_kk = 1
    # the paper's setting: 250 steps, jump length 10, 10 samplings
    x, info = repaint(oracle, known, mask, 250, jump_length=10, jump_n_sample=10, generator=gen(0), return_info=True)
    assert torch.equal(x[:, 0], known[:, 0]), "known values are kept to the bit"
    assert info.nfe == 250 + 9 * 10 * 24
    u = x[:, 1:]
    # RePaint is exact only as the resampling grows: measured bias here ~0.05
    torch.testing.assert_close(u.mean(0), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(torch.cov(u.T), cov, atol=0.1, rtol=0)
    # without resampling (replacement only) the conditioning is far too weak
    plain = repaint(oracle, known, mask, 250, jump_length=10, jump_n_sample=1, generator=gen(0))
    assert (plain[:, 1:].mean(0) - mean).abs().max() > 0.4


def test_repaint_picks_the_mode():
    two = GaussianMixture([1.0, 1.0], [[-2.0, -2.0], [2.0, 2.0]], [0.09, 0.09])
    n = 400
    known = torch.zeros(n, 2, dtype=torch.float64)
    known[:, 0] = 2.0
    mask = torch.tensor([0.0, 1.0], dtype=torch.float64)
    x = repaint(two.denoiser(difflab.DiscreteSchedule()), known, mask, 50, jump_length=5, jump_n_sample=3, generator=gen(1))
    assert torch.equal(x[:, 0], known[:, 0])
    # the exact conditional puts all its mass on the (2, 2) component: y ~ N(2, 0.09)
    assert (x[:, 1] > 0).double().mean() > 0.95
    assert x[:, 1].median().item() == pytest.approx(2.0, abs=0.2)


def test_everything_regenerated_is_unconditional_sampling():
    # mask 1 everywhere: the forward jumps keep each level's marginal, so resampling
    # leaves the law of plain ancestral sampling on the same grid (which itself
    # under-disperses a little at 100 steps, Bao et al. 2022)
    cov = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
    gauss = GaussianMixture([1.0], [[1.0, -1.0]], cov[None])
    oracle = ScaledOracle(gauss, difflab.DiscreteSchedule())
    n = 2000
    x = repaint(oracle, torch.zeros(n, 2, dtype=torch.float64), torch.ones(2), 100, jump_length=10, jump_n_sample=4,
                generator=gen(2))
    plain = difflab.sample(oracle, torch.randn(n, 2, generator=gen(3), dtype=torch.float64), "ddpm", 100, generator=gen(4))
    torch.testing.assert_close(x.mean(0), gauss.means[0], atol=0.06, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), torch.cov(plain.T), atol=0.06, rtol=0)


def test_respacing_full_table_and_callback():
    # steps = T: the paper's full chain on the table itself; jumps count table entries
    two = GaussianMixture([1.0, 1.0], [[-2.0, -2.0], [2.0, 2.0]], [0.09, 0.09])
    schedule = difflab.DiscreteSchedule(T=20)
    known = torch.full((8, 2), 2.0, dtype=torch.float64)
    seen = []
    x, info = repaint(two.denoiser(schedule), known, torch.tensor([0.0, 1.0]), 20, jump_length=4, jump_n_sample=2,
                      generator=3, callback=lambda d: seen.append((d["i"], d["sigma"], d["sigma_next"])), return_info=True)
    torch.testing.assert_close(info.sigmas[:-1], schedule.ve_sigma_at_index(torch.arange(19, -1, -1)))
    assert info.nfe == 20 + 4 * len(range(0, 16, 4)) == len(seen)
    assert [i for i, _, _ in seen] == list(range(info.nfe))
    assert seen[-1][2] == 0.0
    assert torch.equal(x[:, 0], known[:, 0]) and x[:, 1].min() > 0


def test_batch_of_n_is_n_batches_of_one():
    den = GaussianMixture([1.0, 1.0], [[-2.0, -2.0], [2.0, 2.0]], [0.09, 0.09]).denoiser(difflab.VPSchedule())
    known = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([0.0, 1.0], dtype=torch.float64)
    kw = dict(jump_length=3, jump_n_sample=2, spacing="uniform-t")
    a = repaint(den, known, mask, 12, generator=7, **kw)
    b = torch.cat([repaint(den, known[i:i + 1], mask, 12, generator=7 + i, **kw) for i in range(3)])
    torch.testing.assert_close(a, b)


def test_sampler_options_and_conditioning_pass_through():
    gauss = GaussianMixture([1.0], [[0.0, 0.0]], [1.0])
    calls = []

    class Conditioned(ScaledOracle):
        def __call__(self, x, sigma, **cond):
            calls.append(cond)
            return super().__call__(x, sigma)

    den = Conditioned(gauss, difflab.DiscreteSchedule())
    known = torch.zeros(2, 2, dtype=torch.float64)
    mask = torch.tensor([0.0, 1.0])
    ctx = torch.ones(2, 3)
    x = repaint(den, known, mask, 6, jump_length=2, jump_n_sample=2, cond={"context": ctx}, variance="beta", generator=0)
    assert calls and all(c["context"] is ctx for c in calls)
    y = repaint(den, known, mask, 6, jump_length=2, jump_n_sample=2, sampler="ddim", eta=0.5, generator=0)
    assert x.shape == y.shape == known.shape
    with pytest.raises(ValueError, match="no option 'eta'"):
        repaint(den, known, mask, 6, eta=1.0)
    with pytest.raises(ValueError, match="unknown sampler"):
        repaint(den, known, mask, 6, sampler="nope")
    with pytest.raises(ValueError, match="only 0"):
        repaint(den, known, torch.full((2,), 0.5), 6)
    with pytest.raises(ValueError, match="does not fit"):
        repaint(den, known, torch.ones(3), 6)
    with pytest.raises(TypeError, match="Denoiser"):
        repaint(lambda x, s: x, known, mask, 6)

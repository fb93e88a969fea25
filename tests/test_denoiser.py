import pytest
import torch

import difflab
from difflab import predictions as P
from difflab.models import GaussianMixture
from difflab.schedules import DiscreteSchedule, VESchedule, VPSchedule

GAUSS = GaussianMixture([1.0], [[0.5, -1.0]], [[0.3, 0.8]])  # one diagonal Gaussian


def _exact(schedule, kind):
    """A plain function f(x_t, t) predicting ``kind`` exactly for GAUSS data."""

    def f(x, t):
        a, s = schedule.alpha(t)[:, None], schedule.sigma(t)[:, None]
        x0 = GAUSS.posterior_mean(x, schedule.alpha(t), schedule.sigma(t))
        return P.from_x0(kind, x0, x, a, s)

    return f


@pytest.mark.parametrize("schedule", [DiscreteSchedule("cosine", 500), VPSchedule(), VESchedule(0.01, 20.0)],
                         ids=["ddpm", "vp", "ve"])
@pytest.mark.parametrize("kind", ["eps", "x0", "v", "score"])
def test_every_parameterization_answers_everything(schedule, kind):
    den = difflab.Denoiser(_exact(schedule, kind), schedule, kind, time_input="t")
    x = torch.randn(9, 2, dtype=torch.float64)
    t = torch.full((9,), 0.37, dtype=torch.float64)
    a, s = schedule.alpha(t)[:, None], schedule.sigma(t)[:, None]
    torch.testing.assert_close(den.x0(x, t), GAUSS.posterior_mean(x, a[:, 0], s[:, 0]))
    torch.testing.assert_close(den.score(x, 0.37), GAUSS.score(x, a[:, 0], s[:, 0]))
    torch.testing.assert_close(den.eps(x, t), -s * den.score(x, t))
    torch.testing.assert_close(den.v(x, t), a * den.eps(x, t) - s * den.x0(x, t))
    # the sampler's view: D(x/alpha; sigma/alpha) = E[x0 | x_t]
    torch.testing.assert_close(den(x / a, s[:, 0] / a[:, 0]), den.x0(x, t))


def test_time_inputs():
    s = DiscreteSchedule("linear", 1000)
    seen = {}

    def f(x, time):
        seen["time"] = time
        return torch.zeros_like(x)

    for kind, expect in [("index", 499.0), ("t", 0.5), ("log_snr", s.log_snr(0.5).item()),
                         ("sigma", s.ve_sigma(0.5).item()), ("c_noise", torch.log(s.ve_sigma(0.5)).item() / 4)]:
        difflab.Denoiser(f, s, "eps", time_input=kind).net_output(torch.zeros(3, 2, dtype=torch.float64), 0.5)
        assert seen["time"][0].item() == pytest.approx(expect)
    with pytest.raises(ValueError, match="needs a DiscreteSchedule"):
        difflab.Denoiser(f, VPSchedule(), "eps", time_input="index")
    with pytest.raises(ValueError, match="unknown time_input"):
        difflab.Denoiser(f, s, "eps", time_input="step")


def test_bad_network_output_shape():
    den = difflab.Denoiser(lambda x, t: x[:, :1], VPSchedule(), "eps")
    with pytest.raises(ValueError, match="network returned shape"):
        den.x0(torch.zeros(4, 2), 0.5)


class _Counted:
    """An exact mixture denoiser that counts its calls; ``below``: another output under that level."""

    def __init__(self, den, below: float | None = None):
        self.den, self.below, self.calls, self.schedule = den, below, 0, den.schedule

    def __call__(self, x, sigma, **cond):
        self.calls += 1
        d = self.den(x, sigma, **cond)
        s = float(torch.as_tensor(sigma).reshape(-1)[0])
        return d * 0.5 if self.below is not None and s <= self.below else d


def test_shared_evaluations_spare_the_second_run_its_shared_levels_and_change_nothing():
    """The first run records above its level; a second run from the same noise whose denoiser departs
    only below that level gets the recorded evaluations there and evaluates the rest: its samples
    equal the run alone bit for bit (deterministic and stochastic samplers, per-sample streams), and
    it evaluates only at the levels at or below the level. Other noise finds nothing to replay."""
    from difflab.models import eight_gaussians

    schedule = DiscreteSchedule("linear", 1000)
    den = eight_gaussians().denoiser(schedule)
    level = 1.0
    for sampler in ("unipc", "ddim", "dpmpp-2m-sde"):
        styled, alone = _Counted(den, below=level), _Counted(den)
        alone_x, info = difflab.sample(alone, (16, 2), sampler, 8, generator=3, return_info=True)
        from difflab.denoiser import SharedEvaluations

        shared = SharedEvaluations()
        first = shared.wrap(styled, above=level)
        styled_x = difflab.sample(first, (16, 2), sampler, 8, generator=3)
        assert first.hits == 0 and not torch.equal(styled_x, alone_x)
        second_den = _Counted(den)
        second = shared.wrap(second_den)
        second_x = difflab.sample(second, (16, 2), sampler, 8, generator=3)
        assert torch.equal(second_x, alone_x), sampler
        above = int((info.sigmas[:-1] > level).sum())
        assert 0 < above < 8 and second.hits == above and second_den.calls == info.nfe - above, sampler
        third_den = _Counted(den)
        other = shared.wrap(third_den)
        difflab.sample(other, (16, 2), sampler, 8, generator=4)
        assert other.hits == 0 and third_den.calls == info.nfe

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

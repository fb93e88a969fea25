import pytest
import torch

import difflab
from difflab import predictions as P
from difflab.losses import denoising_loss, sample_t
from difflab.models import GaussianMixture
from difflab.schedules import DiscreteSchedule, VPSchedule


def test_simple_loss_is_ho_eq14():
    s = DiscreteSchedule("linear", 100)
    net = lambda x, t: 0.5 * x  # noqa: E731
    den = difflab.Denoiser(net, s, "eps")
    x0 = torch.randn(8, 3)
    noise = torch.randn(8, 3)
    t = s.t_from_index(torch.arange(8.0, dtype=torch.float64) * 10)
    ab = s.alphas_cumprod[(torch.arange(8) * 10)].float()[:, None]
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    expect = ((noise - 0.5 * x_t) ** 2).mean()
    got = denoising_loss(den, x0, t=t, noise=noise)
    assert got.item() == pytest.approx(expect.item(), rel=1e-5)


@pytest.mark.parametrize("kind", ["eps", "x0", "v", "score"])
def test_loss_is_minimised_by_the_exact_model(kind):
    """The exact posterior predictor beats a perturbed one for every target."""
    gmm = GaussianMixture([1.0], [[0.0, 0.0]], [[0.5, 2.0]])
    sch = VPSchedule()

    def exact(x, t, scale=1.0):
        a, s = sch.alpha(t), sch.sigma(t)
        x0 = gmm.posterior_mean(x, a, s) * scale
        return P.from_x0(kind, x0, x, a[:, None], s[:, None])

    g = torch.Generator().manual_seed(0)
    x0 = gmm.sample(20_000, g)
    t = sample_t(sch, 20_000, g).clamp(min=0.05)
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    losses = [denoising_loss(difflab.Denoiser(lambda x, tt, c=c: exact(x, tt, c), sch, kind), x0, t=t, noise=noise).item()
              for c in (1.0, 1.1)]
    assert losses[0] < losses[1]


def test_sample_t_ranges():
    g = torch.Generator().manual_seed(0)
    s = DiscreteSchedule("linear", 10)
    t = sample_t(s, 1000, g)
    assert set((t * 10).round().long().tolist()) == set(range(1, 11))
    v = sample_t(VPSchedule(t_min=1e-3), 1000, g)
    assert v.min() >= 1e-3 and v.max() <= 1


def test_unknown_weighting():
    den = difflab.Denoiser(lambda x, t: x, VPSchedule(), "eps")
    with pytest.raises(ValueError, match="unknown weighting"):
        denoising_loss(den, torch.zeros(2, 2), weighting="fancy")


def test_likelihood_importance_sampling_is_unbiased():
    """E_uniform[g^2 |score err|^2] equals the importance-sampled estimate (Song et al. 2021b, sec. 5.1)."""
    from difflab.schedules import VESchedule

    sch = VESchedule(0.01, 10.0)
    net = lambda x, t: 0.3 * x  # noqa: E731  a deliberately wrong eps model
    den = difflab.Denoiser(net, sch, "eps", time_input="t")
    x0 = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0))
    est = [denoising_loss(den, x0, generator=torch.Generator().manual_seed(1), weighting="likelihood", t_sampling=s).item()
           for s in ("uniform", "likelihood")]
    assert est[0] == pytest.approx(est[1], rel=0.03)


def test_likelihood_t_density_and_levels():
    from difflab.processes import diffusion_squared
    from difflab.schedules import VESchedule

    sch = VPSchedule()
    t = sample_t(sch, 200_000, torch.Generator().manual_seed(0), sampling="likelihood")
    # density proportional to g^2 / sigma^2: compare the mass of two intervals
    grid = torch.linspace(sch.t_min, 1, 20001, dtype=torch.float64)
    dens = diffusion_squared(sch, grid) / sch.sigma(grid) ** 2
    frac = (dens[grid < 0.1].sum() / dens.sum()).item()
    assert (t < 0.1).double().mean().item() == pytest.approx(frac, abs=0.01)
    lv = sample_t(VESchedule(), 1000, torch.Generator().manual_seed(0), levels=10)
    assert len(set(lv.tolist())) == 10


@pytest.mark.parametrize("sampling, mean, std", [("edm", 2.4, 2.4), ("logit-normal", 0.0, 2.0)])
def test_log_snr_normal_times(sampling, mean, std):
    """EDM's ln sigma ~ N(-1.2, 1.2) and SD3's logit-normal rectified-flow time are both
    lambda ~ N(mean, std^2) in log-SNR; on a DDPM table the times are its entries."""
    from scipy import stats

    vp = VPSchedule()
    lam = vp.log_snr(sample_t(vp, 100_000, torch.Generator().manual_seed(0), sampling=sampling))
    inside = lam[(lam > vp.log_snr(torch.tensor(1.0))) & (lam < vp.log_snr(torch.tensor(vp.t_min)))]
    assert inside.mean().item() == pytest.approx(mean, abs=0.03) and inside.std().item() == pytest.approx(std, rel=0.02)
    # the rectified-flow reading of SD3's density: logit(t_rf) = -lambda / 2 ~ N(0, 1)
    if sampling == "logit-normal":
        assert stats.kstest((-lam / 2).numpy(), "norm").pvalue > 1e-3
    table = DiscreteSchedule("cosine")
    t = sample_t(table, 50_000, torch.Generator().manual_seed(1), sampling=sampling)
    index = table.index_from_t(t)
    assert torch.equal(index, index.round()) and index.min() >= 0 and index.max() <= table.T - 1
    assert table.log_snr(t).median().item() == pytest.approx(mean, abs=0.15)


def test_unknown_t_sampling_is_refused():
    with pytest.raises(ValueError, match="unknown t sampling"):
        sample_t(VPSchedule(), 4, sampling="lognormal")


@pytest.mark.parametrize("kind", ["eps", "v", "x0"])
def test_min_snr_weights_the_x0_error_by_min_snr_5(kind):
    """Hang et al. 2023, eq. 10: the loss is min(SNR, 5) ||x0_hat - x0||^2 whatever the
    network predicts; in the prediction's own space min(SNR, 5)/SNR (eps), min(SNR, 5)/(SNR + 1) (v)."""
    s = VPSchedule()
    g = torch.Generator().manual_seed(0)
    x0, noise, wrong = (torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.tensor([0.02, 0.1, 0.3, 0.5, 0.7, 0.95], dtype=torch.float64)  # SNR from ~1e3 down to ~1e-2
    den = difflab.Denoiser(lambda x, tt: wrong, s, kind)
    a, sg = s.alpha(t)[:, None], s.sigma(t)[:, None]
    x_t = a * x0 + sg * noise
    snr = (a / sg) ** 2
    x0_error = ((P.to_x0(kind, wrong, x_t, a, sg) - x0) ** 2).mean(1, keepdim=True)
    expect = (snr.clamp(max=5) * x0_error).mean()
    got = denoising_loss(den, x0, t=t, noise=noise, weighting="min-snr")
    assert got.item() == pytest.approx(expect.item(), rel=1e-5)
    own = ((wrong - P.target(kind, x0, noise, a, sg)) ** 2).mean(1, keepdim=True)
    in_own_space = {"eps": snr.clamp(max=5) / snr, "v": snr.clamp(max=5) / (snr + 1), "x0": snr.clamp(max=5)}[kind]
    assert got.item() == pytest.approx((in_own_space * own).mean().item(), rel=1e-5)

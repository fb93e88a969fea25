"""DDPM ancestral and DDIM, driven by the exact Gaussian-mixture denoiser."""

import pytest
import torch

import difflab
from difflab.models import eight_gaussians
from difflab.schedules import DiscreteSchedule
from difflab.tensors import generators

from conftest import sw_ratio

GMM = eight_gaussians()
SCHEDULE = DiscreteSchedule("linear", 1000)


@pytest.mark.slow
@pytest.mark.once
@pytest.mark.parametrize("sampler,steps,options", [
    ("ddpm", 1000, {"variance": "posterior"}),
    ("ddpm", 1000, {"variance": "beta"}),
    ("ddim", 100, {}),
])
def test_exact_model_reproduces_mixture(sampler, steps, options):
    den = GMM.denoiser(SCHEDULE)
    x = difflab.sample(den, (10_000, 2), sampler, steps, generator=torch.Generator().manual_seed(1), **options)
    ratio = sw_ratio(x, GMM.sample)
    assert ratio < 1.5, f"{sampler}-{steps}: SW2 is {ratio:.2f}x the noise floor"


def test_few_step_ddim_is_worse_than_many():
    """Discretisation error shrinks with the step count (same noise)."""
    den = GMM.denoiser(SCHEDULE)
    noise = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    ratios = [sw_ratio(difflab.sample(den, noise, "ddim", n), GMM.sample) for n in (3, 50)]
    assert ratios[1] < ratios[0]


def _toy_denoiser():
    return GMM.denoiser(DiscreteSchedule("linear", 1000))


def test_ddim_eta1_equals_ddpm_posterior():
    den = _toy_denoiser()
    noise = torch.randn(64, 2, generator=torch.Generator().manual_seed(3))
    a = difflab.sample(den, noise, "ddim", 20, generator=generators(5, 64), eta=1.0)
    b = difflab.sample(den, noise, "ddpm", 20, generator=generators(5, 64), variance="posterior")
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_ddim_eta0_is_euler_step_in_sigma():
    """Karras et al. 2022, sec. 4: DDIM(eta=0) is Euler on dx/dsigma = (x - D(x; sigma)) / sigma."""
    den = _toy_denoiser()
    sigmas = difflab.grids.make_grid(den.schedule, 10)
    x = torch.randn(32, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * sigmas[0]
    y = x.clone()
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        y = y + (s_next - s) * (y - den(y, s)) / s
    out = difflab.samplers.sample_ddim(den, x, sigmas)
    torch.testing.assert_close(out, y)


def test_ddpm_matches_ho_algorithm_2_in_vp_coordinates():
    """One ancestral step written as Ho et al. Algorithm 2 (with eps from the model)."""
    den = _toy_denoiser()
    s = den.schedule
    i = 500
    sig, sig_prev = s.ve_sigma_at_index(i).item(), s.ve_sigma_at_index(i - 1).item()
    ab, ab_prev, beta = s.alphas_cumprod[i], s.alphas_cumprod[i - 1], s.betas[i]
    x_t = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    eps = den.eps(x_t, s.t_from_index(float(i)))
    sigma_tilde = ((1 - ab_prev) / (1 - ab) * beta).sqrt()
    # difflab works in scaled coordinates x / alpha and draws z from per-sample generators
    z = difflab.tensors.randn((16, 2), generators(7, 16)).double()
    expect = (x_t - beta / (1 - ab).sqrt() * eps) / (1 - beta).sqrt() + sigma_tilde * z
    sigmas = torch.tensor([sig, sig_prev], dtype=torch.float64)
    out = difflab.samplers.sample_ddpm(den, x_t / ab.sqrt(), sigmas, generator=generators(7, 16))
    torch.testing.assert_close(out * ab_prev.sqrt(), expect)


def test_same_seed_same_samples_and_batch_invariance():
    den = _toy_denoiser()
    for sampler in ("ddpm", "ddim"):
        opts = {"eta": 0.7} if sampler == "ddim" else {}
        a = difflab.sample(den, (6, 2), sampler, 15, generator=11, **opts)
        b = difflab.sample(den, (6, 2), sampler, 15, generator=11, **opts)
        assert torch.equal(a, b)
        singles = torch.cat([difflab.sample(den, (1, 2), sampler, 15, generator=11 + i, **opts) for i in range(6)])
        torch.testing.assert_close(a, singles, rtol=1e-6, atol=1e-6)


def test_sample_reports_nfe_and_grid():
    den = _toy_denoiser()
    x, info = difflab.sample(den, (5, 2), "ddim", 7, generator=0, return_info=True)
    assert info.nfe == 7 and len(info.sigmas) == 8 and info.sigmas[-1] == 0


def test_sample_errors():
    den = _toy_denoiser()
    with pytest.raises(ValueError, match="unknown sampler 'nope'; expected one of: .*ddim.*ddpm"):
        difflab.sample(den, (2, 2), "nope", 10)
    with pytest.raises(ValueError, match="has no option 'eta'"):
        difflab.sample(den, (2, 2), "ddpm", 10, eta=0.5)
    with pytest.raises(ValueError, match="positive integer"):
        difflab.sample(den, (2, 2), "ddim", -3)
    with pytest.raises(ValueError, match="strictly decreasing"):
        difflab.sample(den, (2, 2), "ddim", sigmas=torch.tensor([1.0, 2.0, 0.0]))


def test_nan_model_gives_clear_error():
    nan_model = difflab.Denoiser(lambda x, t: torch.full_like(x, float("nan")), SCHEDULE, "eps")
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        difflab.sample(nan_model, (2, 2), "ddim", 5)

"""Probability-flow-ODE likelihood against closed-form densities, and bits/dim."""

from __future__ import annotations

import math

import pytest
import torch

from difflab import VESchedule, VPSchedule
from difflab.likelihood import bits_per_dim, dequantize, log_likelihood
from difflab.models import GaussianMixture, eight_gaussians
from difflab.tensors import generators

F64 = torch.float64
GMM = eight_gaussians()


def noisy_points(data: GaussianMixture, schedule, n: int, seed: int = 0, t=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Points x ~ p_t (t = the schedule's t_min) and their exact log-density log p_t(x)."""
    t = schedule.t_min if t is None else t
    g = torch.Generator().manual_seed(seed)
    a, s = schedule.alpha(t), schedule.sigma(t)
    x = a * data.sample(n, g) + s * torch.randn(n, data.dim, generator=g, dtype=F64)
    return x, data.log_prob(x, a, s)


@pytest.mark.parametrize("schedule", [VPSchedule(), VESchedule()], ids=["vp", "ve"])
def test_exact_trace_matches_closed_form(schedule):
    """log p_{t_min}(x) of the exact mixture model within 0.01 nats per point."""
    x, truth = noisy_points(GMM, schedule, 200)
    result = log_likelihood(GMM.denoiser(schedule), x)
    error = (result.log_prob - truth).abs()
    print(f"NFE likelihood exact {type(schedule).__name__}: nfe={result.nfe} mean|err|={error.mean():.2e} nats")
    assert error.mean() < 0.01
    assert result.log_prob.shape == (200,)
    assert result.latent.shape == x.shape


@pytest.mark.parametrize("probes", ["rademacher", "gaussian"])
def test_hutchinson_agrees_within_its_standard_error(probes):
    schedule = VPSchedule()
    n, k = 200, 4
    x, _ = noisy_points(GMM, schedule, n)
    model = GMM.denoiser(schedule)
    exact = log_likelihood(model, x).log_prob
    diffs = torch.stack(
        [log_likelihood(model, x, trace="hutchinson", probes=probes, generator=generators(1000 * j, n)).log_prob - exact for j in range(k)]
    )
    mean, stderr = diffs.mean().item(), diffs.std().item() / math.sqrt(n * k)
    print(f"hutchinson {probes}: mean diff {mean:.4f} +- {stderr:.4f} nats")
    assert diffs.std() > 0  # an estimate, not the exact trace
    assert abs(mean) < 3 * stderr
    assert stderr < 0.1


def test_hutchinson_probes_are_per_sample():
    """Probes from one generator per sample: a point's probe does not depend on its batch."""
    schedule = VESchedule()
    x, _ = noisy_points(GMM, schedule, 6)
    model = GMM.denoiser(schedule)
    batch = log_likelihood(model, x, trace="hutchinson", generator=generators(5, 6), rtol=1e-8, atol=1e-8).log_prob
    for i in (0, 4):
        one = log_likelihood(model, x[i : i + 1], trace="hutchinson", generator=generators(5 + i, 1), rtol=1e-8, atol=1e-8).log_prob
        torch.testing.assert_close(batch[i : i + 1], one, rtol=0, atol=1e-5)


def smooth_image_gaussian() -> GaussianMixture:
    """An 8x8 'image' distribution: N(mu, C) with an exponential pixel covariance."""
    ij = torch.stack(torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij"), -1).reshape(64, 2).to(F64)
    C = 0.2 * torch.exp(-torch.cdist(ij, ij) / 3) + 1e-3 * torch.eye(64, dtype=F64)
    mu = 0.3 * torch.cos(ij[:, 0] / 2)
    return GaussianMixture([1.0], mu[None], C[None])


def test_bits_per_dim_of_gaussian_image_data():
    """Bits/dim through the ODE equals the analytic value for exactly Gaussian 8x8 data."""
    data, schedule = smooth_image_gaussian(), VPSchedule()
    x, truth = noisy_points(data, schedule, 12)
    x = x.reshape(12, 1, 8, 8)
    result = log_likelihood(data.denoiser(schedule), x)
    ours, analytic = bits_per_dim(result.log_prob, 64), bits_per_dim(truth, 64)
    print(f"NFE likelihood 8x8 Gaussian: nfe={result.nfe} bpd={ours.mean():.4f} analytic={analytic.mean():.4f}")
    assert (ours - analytic).abs().max() < 0.01


def test_bits_per_dim_of_3d_gaussian_with_full_covariance():
    A = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.4, 0.2]], dtype=F64)
    data, schedule = GaussianMixture([1.0], [[0.5, -1.0, 0.2]], (A @ A.T)[None]), VESchedule()
    x, truth = noisy_points(data, schedule, 100)
    model, analytic = data.denoiser(schedule), bits_per_dim(truth, 3)
    # with the exact endpoint density p_1 the ODE is exact up to the solver's tolerance
    p1 = lambda x1: data.log_prob(x1, schedule.alpha(1.0), schedule.sigma(1.0))  # noqa: E731
    exact = log_likelihood(model, x, prior=p1)
    assert (bits_per_dim(exact.log_prob, 3) - analytic).abs().max() < 1e-3
    # the default N(0, (1 + sigma_max^2) I) prior ignores the data's mean: pointwise errors of
    # ~alpha(1) |E x0| / sigma(1) nats that average out
    default = log_likelihood(model, x)
    assert (bits_per_dim(default.log_prob, 3) - analytic).mean().abs() < 0.01
    # the entropy check: mean -log p over draws is the differential entropy
    cov = A @ A.T + schedule.sigma(schedule.t_min) ** 2 * torch.eye(3, dtype=F64)
    entropy = 0.5 * torch.logdet(2 * math.pi * math.e * cov)
    assert (-exact.log_prob.mean() - entropy).abs() < 4 * exact.log_prob.std() / 10


def test_bits_per_dim_formula():
    # the uniform density on the data range is exactly log2(n_bins) bits per dimension
    for lo, hi in [(-1.0, 1.0), (0.0, 1.0), (-3.0, 5.0)]:
        for n_bins in (2, 256):
            D = 7
            log_p = torch.tensor([-D * math.log(hi - lo)], dtype=F64)
            assert bits_per_dim(log_p, D, (lo, hi), n_bins).item() == pytest.approx(math.log2(n_bins), abs=1e-12)
    # [0, 1] with 256 bins is Song et al.'s "-log p / (D ln 2) + 8"; [-1, 1] gives + 7
    log_p = torch.tensor([-1234.5], dtype=F64)
    assert bits_per_dim(log_p, 3072, (0.0, 1.0)).item() == pytest.approx(1234.5 / (3072 * math.log(2)) + 8)
    assert bits_per_dim(log_p, 3072).item() == pytest.approx(1234.5 / (3072 * math.log(2)) + 7)
    with pytest.raises(ValueError, match="data_range"):
        bits_per_dim(log_p, 3, (1.0, -1.0))
    with pytest.raises(ValueError, match="dims"):
        bits_per_dim(log_p, 0)


def test_dequantize_fills_each_bin():
    k = torch.randint(0, 256, (500, 3, 4, 4), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    x = dequantize(k, (-1.0, 1.0), 256, generator=generators(0, 500), dtype=F64)
    assert torch.equal(torch.floor((x + 1) * 128).to(torch.uint8), k)
    u = (x + 1) * 128 - k
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.005
    # per sample: sample i does not depend on the batch
    torch.testing.assert_close(dequantize(k[3:4], generator=generators(3, 1), dtype=F64), x[3:4])
    with pytest.raises(ValueError, match="0 .. 255"):
        dequantize(torch.tensor([[256]]))


def test_bad_arguments_are_named():
    model = GMM.denoiser(VPSchedule())
    x = torch.zeros(3, 2, dtype=F64)
    with pytest.raises(ValueError, match="trace"):
        log_likelihood(model, x, trace="skilling")
    with pytest.raises(ValueError, match="probes"):
        log_likelihood(model, x, trace="hutchinson", probes="sphere")
    with pytest.raises(ValueError, match="t_min"):
        log_likelihood(model, x, t_min=0.0)
    with pytest.raises(TypeError, match="Denoiser"):
        log_likelihood(lambda x, s: x, x)

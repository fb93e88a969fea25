"""Image-to-image by SDEdit (Meng et al. 2022): strength, steps run, and the law of the
edit under an exact Gaussian oracle."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import difflab
from difflab.grids import make_grid
from difflab.pipelines.editing import img2img_image
from difflab.tasks.img2img import img2img, steps_to_run
from difflab.models import GaussianMixture
from difflab.tensors import randn

V = 0.5
GAUSS = GaussianMixture([1.0], [[0.0, 0.0]], [V])  # N(0, V I) in 2-D


def never_called(x, sigma, **cond):
    raise AssertionError("the network must not be called")


never_called.schedule = difflab.DiscreteSchedule()


@pytest.mark.parametrize("strength,steps,expected", [(0, 50, 0), (0.25, 50, 13), (0.5, 50, 25), (0.3, 10, 3),
                                                     (0.05, 10, 1), (0.04, 10, 0), (1, 7, 7)])
def test_steps_to_run(strength, steps, expected):
    assert steps_to_run(strength, steps) == expected


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan")])
def test_strength_out_of_range(bad):
    with pytest.raises(ValueError, match="strength must be in"):
        img2img(GAUSS.denoiser(difflab.VPSchedule()), torch.zeros(1, 2), bad)


def test_strength_zero_returns_the_input_without_a_network_call():
    x = torch.randn(3, 2)
    out, info = img2img(never_called, x, 0.0, "ddim", 20, generator=0, return_info=True)
    assert torch.equal(out, x) and info.nfe == 0 and info.steps == 0
    img = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    result = img2img_image(never_called, img, 0.0, n=2, encode=never_called, decode=never_called)
    assert result.images.shape == (2, 6, 5, 3) and all(np.array_equal(im, img) for im in result.images)
    assert result.info["steps"] == 0 and result.info["nfe"] == 0


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "heun"])
def test_strength_one_ignores_the_input_and_is_plain_sampling(sampler):
    den = GAUSS.denoiser(difflab.DiscreteSchedule())
    a = img2img(den, torch.full((4, 2), 3.0), 1.0, sampler, 10, generator=5)
    b = img2img(den, torch.full((4, 2), -7.0), 1.0, sampler, 10, generator=5)
    assert torch.equal(a, b)
    assert torch.equal(a, difflab.sample(den, (4, 2), sampler, 10, generator=5))


@pytest.mark.parametrize("strength", [0.2, 0.5, 0.76])
def test_runs_the_tail_of_the_grid(strength):
    den = GAUSS.denoiser(difflab.DiscreteSchedule())
    steps = 25
    out, info = img2img(den, torch.zeros(2, 2), strength, "ddim", steps, generator=0, return_info=True)
    k = math.floor(strength * steps + 0.5)
    assert info.steps == k == info.nfe and len(info.sigmas) == k + 1
    assert torch.equal(info.sigmas, make_grid(den.schedule, steps)[steps - k:])
    _, info = img2img(den, torch.zeros(2, 2), strength, "heun", steps, generator=0, return_info=True)
    assert info.steps == k and info.nfe == 2 * k - 1  # Heun: two evaluations a step, one on the last


def test_sdedit_is_the_probability_flow_from_the_noised_input():
    # Gaussian data N(0, V I): the probability-flow ODE from noise level s to 0 is the
    # linear map x -> x sqrt(V / (V + s^2)), so each edit of x_in is
    # sqrt(V / (V + s^2)) (x_in + s eps) with eps the generator's first draw
    den = GAUSS.denoiser(difflab.DiscreteSchedule())
    x_in = torch.tensor([[1.5, -1.0], [0.2, 0.4], [-2.0, 3.0]], dtype=torch.float64)
    out, info = img2img(den, x_in, 0.4, "heun", 60, generator=11, return_info=True)
    s = float(info.sigmas[0])
    eps = randn(x_in.shape, 11, dtype=torch.float64)
    torch.testing.assert_close(out, math.sqrt(V / (V + s**2)) * (x_in + s * eps), atol=1e-2, rtol=0)


def test_sdedit_ancestral_mean():
    # with ancestral (DDPM) steps and the exact denoiser, the mean contracts by
    # prod (V + s_next^2) / (V + s^2) over the steps = V / (V + s_start^2), on any grid
    den = GAUSS.denoiser(difflab.DiscreteSchedule())
    n = 2000
    x_in = torch.tensor([[1.5, -1.0]], dtype=torch.float64).expand(n, 2)
    out, info = img2img(den, x_in, 0.3, "ddpm", 40, generator=torch.Generator().manual_seed(0), return_info=True)
    s = float(info.sigmas[0])
    torch.testing.assert_close(out.mean(0), V / (V + s**2) * x_in[0], atol=4 * math.sqrt(V / n), rtol=0)


def test_batch_of_n_is_n_batches_of_one():
    den = GAUSS.denoiser(difflab.VPSchedule())
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    a = img2img(den, x, 0.6, "ddpm", 10, generator=3)
    b = torch.cat([img2img(den, x[i:i + 1], 0.6, "ddpm", 10, generator=3 + i) for i in range(3)])
    torch.testing.assert_close(a, b)


def test_image_level_latent_and_conditioning():
    img = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    gauss = GaussianMixture([1.0], torch.zeros(1, 3 * 4 * 4), [0.3]).denoiser(difflab.DiscreteSchedule())
    seen = []

    def den(x, sigma, **cond):
        seen.append(cond)
        return gauss(x, sigma)

    den.schedule = gauss.schedule
    encode = lambda u: F.avg_pool2d(2 * u - 1, 2)  # noqa: E731
    decode = lambda z: F.interpolate((z + 1) / 2, scale_factor=2)  # noqa: E731
    context = torch.ones(2, 3)
    result = img2img_image(den, img, 0.5, steps=10, n=2, generator=0, encode=encode, decode=decode,
                           cond={"context": context})
    assert result.images.shape == (2, 8, 8, 3) and result.images.dtype == np.uint8
    assert result.info == {"sampler": "ddpm", "strength": 0.5, "steps": 5, "nfe": 5}
    assert len(seen) == 5 and all(c["context"] is context for c in seen)
    assert not np.array_equal(result.images[0], result.images[1])
    with pytest.raises(ValueError, match="decode returned shape"):
        img2img_image(den, img, 0.5, steps=4, encode=encode, decode=lambda z: z)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        img2img_image(den, img, 0.5, n=0)

"""Imputation by replacement (Song et al. 2021, app. I.2) around any sampler."""

import pytest
import torch

import difflab
from difflab.tasks.inpaint import Inpainter
from difflab.models import GaussianMixture

TWO = GaussianMixture([1.0, 1.0], [[-2.0, -2.0], [2.0, 2.0]], [0.09, 0.09])


@pytest.mark.parametrize("schedule,sampler,steps", [
    (difflab.DiscreteSchedule(), "ddpm", 500),
    (difflab.VESchedule(0.01, 50.0), "pc", 200),
    (difflab.VPSchedule(), "euler-maruyama", 300),
])
def test_replacement_keeps_known_values_and_picks_the_mode(schedule, sampler, steps):
    n = 1000
    known = torch.zeros(n, 2, dtype=torch.float64)
    known[:, 0] = 2.0
    mask = torch.tensor([0.0, 1.0], dtype=torch.float64)  # generate the second coordinate
    # one generator for the batch (per-sample streams cost 1000 small draws a step)
    x = difflab.sample(Inpainter(TWO.denoiser(schedule), known, mask, generator=torch.Generator().manual_seed(0)), (n, 2),
                       sampler, steps, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x[:, 0], known[:, 0]), "known values are kept to the bit"
    # the exact conditional puts all its mass on the (2, 2) component: y ~ N(2, 0.09)
    assert (x[:, 1] > 0).double().mean() > 0.95
    assert x[:, 1].median().item() == pytest.approx(2.0, abs=0.25)


def test_mask_errors():
    den = TWO.denoiser(difflab.VPSchedule())
    known = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="does not fit"):
        Inpainter(den, known, torch.ones(3))
    with pytest.raises(ValueError, match="only 0"):
        Inpainter(den, known, torch.full((4, 2), 0.5))


def test_batch_invariance():
    den = TWO.denoiser(difflab.VESchedule(0.01, 50.0))
    known = torch.zeros(4, 2, dtype=torch.float64)
    mask = torch.tensor([0.0, 1.0], dtype=torch.float64)
    a = difflab.sample(Inpainter(den, known, mask, generator=5), (4, 2), "pc", 20, generator=3)
    b = torch.cat([difflab.sample(Inpainter(den, known[:1], mask, generator=5 + i), (1, 2), "pc", 20, generator=3 + i)
                   for i in range(4)])
    torch.testing.assert_close(a, b)


# ---------------------------------------------------------------------------------
# images: masks, paste-back, latent models (difflab.masks, inpaint_image)
# ---------------------------------------------------------------------------------

import numpy as np  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from difflab.pipelines.editing import inpaint_image  # noqa: E402
from difflab.masks import check_mask, feather_weights, latent_mask, load_image, load_mask, pixel_codec  # noqa: E402

H, W = 8, 12


def image_model(shape, variance=0.3):
    """The exact denoiser of an isotropic Gaussian over images of ``shape`` (C, H, W)."""
    dim = int(np.prod(shape))
    return GaussianMixture([1.0], torch.zeros(1, dim), [variance]).denoiser(difflab.DiscreteSchedule())


def picture(channels=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (H, W, channels), dtype=np.uint8)


def hole():
    mask = np.zeros((H, W), np.uint8)
    mask[2:6, 3:9] = 255
    return mask


def pool_codec(factor=2):
    """A stand-in latent autoencoder: average-pool / nearest-upsample (changes kept pixels)."""
    return (lambda u: F.avg_pool2d(2 * u - 1, factor)), (lambda z: F.interpolate((z + 1) / 2, scale_factor=factor))


@pytest.mark.parametrize("method,feather", [("repaint", 0.0), ("replace", 0.0), ("repaint", 2.0)])
def test_pixels_outside_the_mask_are_unchanged_to_the_bit(method, feather):
    img, mask = picture(), hole()
    result = inpaint_image(image_model((3, H, W)), img, mask, method=method, steps=12, jump_length=3, jump_n_sample=2,
                           n=2, generator=0, feather=feather)
    assert result.images.dtype == np.uint8 and result.images.shape == (2, H, W, 3)
    for out in result.images:
        assert np.array_equal(out[mask == 0], img[mask == 0])
        assert (out[mask == 255] != img[mask == 255]).mean() > 0.9
    assert result.info["method"] == method and result.info["steps"] == 12
    assert result.info["regenerated_fraction"] == pytest.approx(24 / 96)


def test_latent_model_pastes_known_pixels_back():
    img, mask = picture(seed=1), hole()
    encode, decode = pool_codec()
    result = inpaint_image(image_model((3, H // 2, W // 2)), img, mask, steps=10, jump_length=2, jump_n_sample=2,
                           generator=1, encode=encode, decode=decode)
    decoded = decode(encode(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255))
    assert not np.array_equal((decoded[0].permute(1, 2, 0) * 255).round().byte().numpy()[mask == 0], img[mask == 0]), \
        "the stand-in decoder does change kept pixels"
    assert np.array_equal(result.images[0][mask == 0], img[mask == 0])


def test_latent_mask_covers_the_region():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 3, 4] = 1  # one pixel
    lat = latent_mask(mask, (4, 4))
    assert lat.shape == (1, 1, 4, 4) and lat.sum() == 1 and lat[0, 0, 1, 2] == 1
    torch.testing.assert_close(latent_mask(torch.ones(1, 1, 8, 8), (2, 2)), torch.ones(1, 1, 2, 2))


def test_feathering_acts_only_inside_the_mask():
    m = check_mask(hole(), (H, W))
    w = feather_weights(m, 1.5)
    assert torch.equal(w[m == 0], torch.zeros_like(w[m == 0]))
    assert (w[m == 1] > 0).all() and (w[m == 1] < 1).any()
    assert torch.equal(feather_weights(m, 0), m)
    with pytest.raises(ValueError, match="feather radius"):
        feather_weights(m, -1)


def test_mask_files_white_is_regenerate(tmp_path):
    mask = hole()
    mask[0, 0] = 128  # anti-aliased grey at half: regenerated
    mask[0, 1] = 127  # just below: kept
    Image.fromarray(mask).save(tmp_path / "m.png")
    m = load_mask(tmp_path / "m.png", (H, W))
    assert m.shape == (1, 1, H, W) and m.dtype == torch.float32
    assert m[0, 0, 0, 0] == 1 and m[0, 0, 0, 1] == 0 and m[0, 0, 3, 4] == 1 and m[0, 0, 7, 0] == 0
    # a grey image saved as RGB is the same mask
    Image.fromarray(np.repeat(mask[:, :, None], 3, 2)).save(tmp_path / "rgb.png")
    assert torch.equal(load_mask(str(tmp_path / "rgb.png"), (H, W)), m)
    # bool and float arrays: True / 1 = regenerate
    assert torch.equal(check_mask(mask >= 128, (3, H, W)), m)
    assert torch.equal(check_mask(torch.from_numpy(mask / 255.0), (1, 3, H, W)), m)


@pytest.mark.parametrize("mask,message", [
    (np.zeros((H, W + 1), np.uint8), "mask is 8x13 .* image is 8x12"),
    (np.zeros((H, W, 3), np.uint8), "shape"),
    (Image.fromarray(np.stack([np.zeros((H, W), np.uint8), np.full((H, W), 255, np.uint8),
                               np.zeros((H, W), np.uint8)], 2)), "differing colour channels"),
    (Image.fromarray(np.zeros((H, W, 4), np.uint8)), "transparent"),
    (np.full((H, W), 1.5), r"\[0, 1\]"),
    (np.full((H, W), np.nan), "NaN"),
    (np.eye(H, W, dtype=np.int64), "only 0 and 1"),
    (np.full((H, W), 300), "0..255"),
    (np.zeros((H, W), np.complex64), "dtype"),
])
def test_mask_errors_are_one_line(mask, message):
    with pytest.raises(ValueError, match=message) as info:
        check_mask(mask, (H, W))
    assert "\n" not in str(info.value)


def test_image_level_errors(tmp_path):
    den = image_model((3, H, W))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mask(tmp_path / "none.png", (H, W))
    (tmp_path / "bad.png").write_text("not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        load_mask(tmp_path / "bad.png", (H, W))
    with pytest.raises(ValueError, match="uint8"):
        load_image(np.zeros((H, W, 3)))
    with pytest.raises(ValueError, match="resize it first"):
        load_image(picture(), size=(H, H))
    with pytest.raises(ValueError, match="all black"):
        inpaint_image(den, picture(), np.zeros((H, W), np.uint8))
    with pytest.raises(ValueError, match="unknown inpainting method"):
        inpaint_image(den, picture(), hole(), method="magic")
    with pytest.raises(ValueError, match="both encode and decode"):
        inpaint_image(den, picture(), hole(), encode=lambda u: u)
    with pytest.raises(ValueError, match="decode returned shape"):
        inpaint_image(den, picture(), hole(), steps=2, jump_length=1, jump_n_sample=1, decode=lambda z: z[:, :1],
                      encode=lambda u: 2 * u - 1)


def test_grayscale_files_conditioning_and_pil_output(tmp_path):
    img = picture(channels=1)
    Image.fromarray(img[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(hole()).save(tmp_path / "mask.png")
    seen = []
    gauss = image_model((1, H, W))

    def den(x, sigma, **cond):
        seen.append(cond)
        return gauss(x, sigma)

    den.schedule = gauss.schedule
    context = torch.ones(1, 4, 2)
    result = inpaint_image(den, tmp_path / "gray.png", tmp_path / "mask.png", steps=4, jump_length=2, jump_n_sample=2,
                           cond={"context": context}, generator=0)
    assert result.images.shape == (1, H, W, 1) and seen and all(c["context"] is context for c in seen)
    assert np.array_equal(result.images[0][hole() == 0], img[hole() == 0])
    (pil,) = result.pil()
    assert pil.mode == "L" and pil.size == (W, H)


def test_pixel_codec_follows_the_model_config():
    encode, decode = pixel_codec({"pixel_range": [0, 16], "transform": {"type": "affine", "shift": 8.0, "scale": 8.0}})
    u = torch.tensor([0.0, 0.5, 1.0]).reshape(1, 1, 1, 3)
    torch.testing.assert_close(encode(u), torch.tensor([-1.0, 0.0, 1.0]).reshape(1, 1, 1, 3))
    torch.testing.assert_close(decode(encode(u)), u)
    encode, decode = pixel_codec(None)
    torch.testing.assert_close(encode(u), 2 * u - 1)


class _ClassGaussians:
    """Exact class-conditional denoiser of class c ~ N(mu_c, s^2 I) (VE coordinates):
    D(x; sigma, c) = mu_c + s^2 / (s^2 + sigma^2) (x - mu_c)."""

    def __init__(self, means: torch.Tensor, s: float) -> None:
        self.means, self.s = means, s

    def __call__(self, x, sigma, labels):
        mu = self.means[labels]
        shrink = (self.s**2 / (self.s**2 + torch.as_tensor(sigma, dtype=x.dtype) ** 2)).view(-1, *[1] * (x.ndim - 1))
        return mu + shrink * (x - mu)


def test_infer_label_reads_the_class_off_the_known_part():
    from difflab.tasks.classify import infer_label

    g = torch.Generator().manual_seed(0)
    means = torch.randn(5, 1, 4, 4, generator=g)
    model = _ClassGaussians(means, 0.3)
    labels = torch.arange(20) % 5
    x = means[labels] + 0.3 * torch.randn(20, 1, 4, 4, generator=g)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 2:] = 1
    hidden = x.clone()
    hidden[..., 2:] = 99.0  # the hidden part must not matter
    pred, err = infer_label(model, hidden, mask, 5, generator=1)
    assert err.shape == (20, 5)
    assert (pred == labels).float().mean() >= 0.9
    pred2, _ = infer_label(model, x, mask, 5, generator=1)
    assert torch.equal(pred, pred2)

"""Super-resolution (difflab.tasks.superres, difflab.pipelines.superres, difflab.evaluate.superres): metrics, the training stream with noise-conditioning
augmentation, a tiny trained model, the shipped x4 model and the CLI's error handling."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch

from difflab.evaluate import superres as sre
from difflab.metrics.image import psnr, ssim
from difflab.pipelines import superres as srp
from difflab.tasks import superres as sr
from difflab.data.photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS, load_photo, random_crops
from difflab.train.superres import make_draw, ship


pytestmark = pytest.mark.usefixtures("one_thread")


def _rng_image(seed: int, h: int = 32, w: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# -- metrics ------------------------------------------------------------------------------
def test_psnr_known_values():
    a = _rng_image(0)
    assert psnr(a, a) == math.inf
    b = a.astype(np.int64)
    b = np.where(b < 128, b + 5, b - 5)  # every pixel off by exactly 5
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)
    assert psnr(np.zeros((4, 4)), np.full((4, 4), 0.5), data_range=1.0) == pytest.approx(10 * math.log10(4))
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, a[:-1])


def test_ssim_properties():
    a = _rng_image(1)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    b = _rng_image(2)
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)  # symmetric
    assert ssim(a, b) < 0.1  # independent noise: no structure in common
    # constant images: the variance terms are 0, SSIM = (2 c1 c2 + C1) / (c1^2 + c2^2 + C1)
    c1, c2, C1 = 100.0, 140.0, (0.01 * 255) ** 2
    got = ssim(np.full((16, 16), c1), np.full((16, 16), c2))
    assert got == pytest.approx((2 * c1 * c2 + C1) / (c1**2 + c2**2 + C1), rel=1e-12)
    # blurring lowers SSIM; more blur lowers it more
    x = sr.to_tensor(a)
    blur1 = sr.to_uint8(sr.upsample(sr.downscale(x[..., :32, :40], 2), 2))
    blur2 = sr.to_uint8(sr.upsample(sr.downscale(x[..., :32, :40], 4), 4))
    assert 1 > ssim(a, blur1) > ssim(a, blur2)


def test_ssim_matches_skimage():
    metrics = pytest.importorskip("skimage.metrics")
    a = load_photo("astronaut")[100:164, 200:264]
    b = np.clip(a.astype(np.int64) + np.random.default_rng(3).integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    want = metrics.structural_similarity(a, b, data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False)
    assert ssim(a, b) == pytest.approx(want, abs=1e-9)


# -- data and the training stream ------------------------------------------------------------
def test_photo_split_is_disjoint_and_crops_deterministic():
    assert not set(TRAIN_PHOTOS) & set(HELD_OUT_PHOTOS)
    one = random_crops(3, 24, torch.Generator().manual_seed(5), photos=("astronaut", "coffee"))
    two = random_crops(3, 24, torch.Generator().manual_seed(5), photos=("astronaut", "coffee"))
    assert one.shape == (3, 3, 24, 24) and torch.equal(one, two)
    assert one.min() >= -1 and one.max() <= 1
    with pytest.raises(ValueError, match="unknown photo"):
        load_photo("lena")


def test_noise_conditioning_augmentation_in_training_draws():
    draw = make_draw(crop=16, scale=4, residual_scale=4.0, aug_max=0.1, photos=("astronaut",))
    x0, cond = draw(8, torch.Generator().manual_seed(0))
    c = cond["concat"]
    assert x0.shape == (8, 3, 16, 16) and c.shape == (8, 4, 16, 16)
    level = c[:, 3]
    # one level per sample, constant over the image, varying between samples, in [0, 1]
    assert torch.equal(level, level[:, :1, :1].expand_as(level))
    assert level[:, 0, 0].unique().numel() == 8 and level.min() >= 0 and level.max() <= 1
    x0b, condb = draw(8, torch.Generator().manual_seed(0))
    assert torch.equal(x0, x0b) and torch.equal(c, condb["concat"])  # a seed fixes the stream
    # condition(): tau = 0 is the clean bicubic upsampling; tau > 0 corrupts it by about tau
    y = torch.rand(2, 3, 8, 8) * 2 - 1
    z = torch.randn(2, 3, 8, 8)
    clean = sr.condition(y, 4, torch.zeros(2), 0.1, z)
    assert torch.equal(clean[:, :3], sr.upsample(y, 4)) and torch.equal(clean[:, 3], torch.zeros(2, 32, 32))
    noisy = sr.condition(y, 4, torch.tensor([0.05, 0.1]), 0.1, z)
    assert (noisy[:, :3] - clean[:, :3]).abs().mean() > 0.01
    assert noisy[0, 3].unique().tolist() == pytest.approx([0.5]) and noisy[1, 3].unique().tolist() == [1.0]


# -- a tiny model end to end ---------------------------------------------------------------------
def test_tiny_model_upscales_deterministically(tiny_superres, tmp_path):
    model = srp.load_superres(tiny_superres)
    assert model.scale == 4 and model.config["aug_max"] == 0.1
    image = _rng_image(4, 16, 16)
    a = srp.upscale(model, image, 4, steps=3, seed=1, temperature=1.0)
    b = srp.upscale(tiny_superres, image, 4, steps=3, seed=1, temperature=1.0)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)  # deterministic DDIM: the seed fixes the output
    assert not np.array_equal(a, srp.upscale(model, image, 4, steps=3, seed=2, temperature=1.0))
    cold = srp.upscale(model, image, 4, steps=3, seed=1, temperature=0.0, aug_level=0.0)
    assert np.array_equal(cold, srp.upscale(model, image, 4, steps=3, seed=5, temperature=0.0, aug_level=0.0))
    with pytest.raises(ValueError, match="upscales by 4, not 2"):
        srp.upscale(model, image, 2)
    # the float16 inference copy loads and gives (nearly) the same picture
    small = ship(tiny_superres, tmp_path / "ship")
    assert not (small / "ema.safetensors").exists()
    c = srp.upscale(small, image, 4, steps=3, seed=1, temperature=1.0)
    assert np.abs(c.astype(int) - a.astype(int)).max() <= 3
    # the pipeline: the same pixels; saved and loaded again, the same pipeline
    pipe = srp.SuperResolutionPipeline.load(tiny_superres)
    assert np.array_equal(pipe(image, steps=3, seed=1, temperature=1.0), a)
    again = srp.SuperResolutionPipeline.load(pipe.save(tmp_path / "copy"))
    assert again.config["superres"] == pipe.config["superres"] and again.scale == 4
    assert np.array_equal(again(image, steps=3, seed=1, temperature=1.0), a)


def test_evaluate_superres_reports_both(tiny_superres):
    r = sre.evaluate_superres(tiny_superres, photos=["chelsea"], crop=32, steps=2, return_images=True)
    row = r["photos"]["chelsea"]
    assert set(row) == {"psnr_model", "psnr_bicubic", "ssim_model", "ssim_bicubic"}
    low, base, out, original = r["images"]["chelsea"]
    assert low.shape == (8, 8, 3) and base.shape == out.shape == original.shape == (32, 32, 3)
    assert row["psnr_bicubic"] == pytest.approx(psnr(base, original))
    assert "| chelsea |" in sre.format_table(r)


# -- the shipped model ------------------------------------------------------------------------------
def test_shipped_model_upscales_a_small_image():
    if not (srp.shipped_model_path() / "config.json").is_file():
        pytest.skip("no shipped model in this checkout")
    model = srp.load_superres()
    assert model.scale == 4
    photo = load_photo("chelsea")[100:116, 200:216]
    out = srp.upscale(model, photo, steps=2)
    assert out.shape == (64, 64, 3)
    # close to the bicubic upsampling (it adds detail, it does not repaint)
    assert psnr(out, srp.bicubic(photo, 4)) > 20


# -- CLI handlers (parsed by this module's own parser) ---------------------------------------------------
def _run(argv):
    from difflab.cli import upscale as cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    args.handler(args)


def test_cli_errors_are_one_line(tmp_path, tiny_superres):
    from PIL import Image

    cases = [
        (["upscale", str(tmp_path / "missing.png"), "--out", str(tmp_path / "o.png"), "--model", str(tiny_superres)],
         FileNotFoundError, "does not exist"),
        (["upscale", "x.png", "--out", str(tmp_path / "o.jpg")], ValueError, ".png"),
    ]
    img = tmp_path / "in.png"
    Image.fromarray(_rng_image(5, 8, 8)).save(img)
    cases += [
        (["upscale", str(img), "--scale", "2", "--out", str(tmp_path / "o.png"), "--model", str(tiny_superres)],
         ValueError, "upscales by 4 only"),
        (["upscale", str(img), "--out", str(tmp_path / "o.png"), "--model", str(tmp_path)], FileNotFoundError,
         "config.json"),
    ]
    for argv, error, text in cases:
        with pytest.raises(error) as e:
            _run(argv)
        assert text in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "o.png").exists()
    _run(["upscale", str(img), "--out", str(tmp_path / "o.png"), "--model", str(tiny_superres), "--steps", "2"])
    with Image.open(tmp_path / "o.png") as im:
        assert im.size == (32, 32)

"""Every image input is bounded (issue 14): pixel counts and sizes checked from a file's
header before it is decoded, 16-bit images read right, the feather radius bounded by the
image, and super-resolution in tiles so its memory does not grow with the image."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

import difflab
from difflab import limits
from difflab.metrics.image import psnr
from difflab.pipelines import superres as sr_pipeline
from difflab.tasks import superres
from difflab.data.photos import load_photo
from difflab.pipelines.editing import img2img_image, inpaint_image
from difflab.masks import check_feather, feather_weights, load_image, load_mask, pixel_codec


def write_png(path, width, height, depth, color_type, row: bytes | None = None, data: bytes | None = None):
    """A PNG written chunk by chunk: IHDR, then ``height`` copies of ``row`` (filter byte
    included) compressed, or the raw IDAT ``data`` as given (garbage for a header-only test)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    if data is None:
        z = zlib.compressobj(9)
        data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def black_1bit(path, side):
    """A valid all-black 1-bit PNG of side x side pixels (20000 x 20000 is 60 KB)."""
    return write_png(path, side, side, 1, 0, row=bytes(1 + (side + 7) // 8))


def png16(path, array):
    """A 16-bit PNG of a uint16 array (H, W) gray, (H, W, 3) RGB, checked to be 16-bit on disk."""
    h, w = array.shape[:2]
    color_type = 0 if array.ndim == 2 else 2
    rows = b"".join(b"\x00" + array[i].astype(">u2").tobytes() for i in range(h))
    write_png(path, w, h, 16, color_type, data=zlib.compress(rows))
    assert path.read_bytes()[24] == 16, "IHDR bit depth"
    return path


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


class Untouchable:
    """A denoiser that fails if it is ever called: the refusal must come first."""

    schedule = difflab.DiscreteSchedule()

    def __call__(self, *args, **kwargs):
        raise AssertionError("the model ran before the input was refused")


# -- 1. pixel count from the header --------------------------------------------------------
def test_a_20000_pixel_square_png_is_refused_from_its_header(tmp_path, sr):
    big = black_1bit(tmp_path / "big.png", 20_000)
    before = Image.MAX_IMAGE_PIXELS
    for load in (lambda: load_image(big), lambda: load_mask(big, (20_000, 20_000)),
                 lambda: img2img_image(Untouchable(), big, 0.5), lambda: sr_pipeline.upscale(sr, big)):
        with pytest.raises(ValueError) as e:
            load()
        message = one_line(e)  # Pillow's own bound (2 x 89.5 M pixels) fires as it reads the header
        assert "big.png" in message and "pixels limit" in message and "--limit pixels" in message
    with pytest.raises(ValueError, match=r"mask .*big.png"):
        load_mask(big, (20_000, 20_000))
    assert Image.MAX_IMAGE_PIXELS == before, "Pillow's own check is untouched"


def test_raising_the_pixel_limit_lets_a_larger_image_through(tmp_path):
    side = 4100  # 16,810,000 pixels: just over the default 4096 x 4096
    path = black_1bit(tmp_path / "large.png", side)
    with pytest.raises(ValueError, match="over the limit"):
        load_image(path)
    with limits.raised(pixels=side * side):
        pixels = load_image(path)
    assert pixels.shape == (side, side, 1) and pixels.max() == 0
    with limits.raised(pixels=64):  # and a lower limit refuses a small one
        with pytest.raises(ValueError, match=r"\(9x8\)"):
            load_image(write_png(tmp_path / "small.png", 9, 8, 8, 0, row=bytes(10)))


def test_pillow_size_errors_become_one_line_value_errors(tmp_path, monkeypatch):
    path = write_png(tmp_path / "ok.png", 4, 4, 8, 0, row=bytes(5))

    def bomb(self):
        raise Image.DecompressionBombError("Image size (400000000 pixels) exceeds limit")

    monkeypatch.setattr(ImageFile.ImageFile, "load", bomb)
    with pytest.raises(ValueError, match="ok.png is over the pixels limit and Pillow.s decompression-bomb bound") as e:
        load_image(path)
    one_line(e)


# -- 2. 16-bit images ----------------------------------------------------------------------------
def test_16_bit_grayscale_png_is_reduced_to_the_nearest_8_bit_level(tmp_path):
    levels = np.array([0, 128, 129, 257, 32767, 32768, 257 * 200, 65534, 65535], dtype=np.uint16)
    ramp = np.arange(0, 65536, 64, dtype=np.uint16).reshape(32, 32)
    for name, array in (("levels", levels[None]), ("ramp", ramp)):
        path = tmp_path / f"{name}.png"
        Image.fromarray(array).save(path)
        with Image.open(path) as im:
            assert im.mode in ("I;16", "I;16B", "I") and np.asarray(im).max() > 255, "really 16-bit on disk"
        got = load_image(path)[..., 0].astype(int)
        assert np.array_equal(got, np.round(array / 257).astype(int)), name
    assert load_image(tmp_path / "levels.png")[0, :, 0].tolist() == [0, 0, 1, 1, 127, 128, 200, 255, 255]
    # the same for PIL images of every 16-bit mode, and for 32-bit 'I' holding 16-bit values
    for im in (Image.fromarray(ramp), Image.fromarray(ramp.astype(">u2")), Image.fromarray(ramp.astype(np.int32))):
        assert np.array_equal(load_image(im, "L")[..., 0], np.round(ramp / 257).astype(np.uint8)), im.mode
    rgb = load_image(Image.fromarray(ramp), "RGB")
    assert rgb.shape == (32, 32, 3) and (rgb == rgb[..., :1]).all()


def test_16_bit_rgb_png_is_reduced_by_pillow_to_within_one_level(tmp_path):
    v = np.random.default_rng(0).integers(0, 65536, (16, 16, 3)).astype(np.uint16)
    v[0, :, 0] = 257 * np.arange(0, 256, 16)  # values of an 8-bit image scaled to 16 bits
    got = load_image(png16(tmp_path / "rgb16.png", v)).astype(int)
    assert got.shape == (16, 16, 3)
    assert np.abs(got - np.round(v / 257)).max() <= 1
    assert np.array_equal(got[0, :, 0], np.arange(0, 256, 16))


def test_16_bit_mask_thresholds_at_half(tmp_path):
    mask = np.zeros((4, 6), np.uint16)
    mask[1:3, 1:4] = 65535
    mask[0, 5], mask[3, 5] = 32768, 32767  # just over and just under half
    path = tmp_path / "mask16.png"
    Image.fromarray(mask).save(path)
    got = load_mask(path, (4, 6))[0, 0]
    want = torch.from_numpy((mask >= 32768).astype(np.float32))
    assert torch.equal(got, want) and got.sum() == 7
    assert torch.equal(load_mask(Image.fromarray(mask), (4, 6))[0, 0], want)
    assert torch.equal(load_mask(png16(tmp_path / "m.png", mask), (4, 6))[0, 0], want)


def test_float_and_out_of_range_images_are_refused(tmp_path):
    f = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    Image.fromarray(f).save(tmp_path / "float.tiff")
    for image in (tmp_path / "float.tiff", Image.fromarray(f)):
        with pytest.raises(ValueError, match="floating-point pixels .*8- or 16-bit") as e:
            load_image(image)
        one_line(e)
    with pytest.raises(ValueError, match="mode F"):
        load_mask(Image.fromarray(f), (3, 4))
    with pytest.raises(ValueError, match="outside the 16-bit range"):
        load_image(Image.fromarray(np.array([[0, 70000]], dtype=np.int32)))


# -- 3. the model's size, from the header ---------------------------------------------------------
def test_an_image_of_another_size_than_the_model_is_refused_before_decoding(tmp_path):
    # a valid header and undecodable pixels: only a check from the header can name the size
    broken = write_png(tmp_path / "broken64.png", 64, 64, 8, 0, data=b"not zlib at all")
    with pytest.raises(ValueError, match="not a readable image"):
        load_image(broken)
    shape = (1, 8, 8)  # an 8x8 grayscale model's config["data"]["shape"]
    with pytest.raises(ValueError, match=r"broken64.png is 64x64 .*model works at 8x8: resize it first"):
        img2img_image(Untouchable(), broken, 0.5, mode="L", size=shape)
    with pytest.raises(ValueError, match=r"broken64.png is 64x64 .*model works at 8x8"):
        inpaint_image(Untouchable(), broken, np.full((8, 8), 255, np.uint8), mode="L", size=shape)
    odd = np.zeros((15, 17), np.uint8)  # arrays are checked too
    for edit in (lambda: img2img_image(Untouchable(), odd, 0.5, size=shape),
                 lambda: inpaint_image(Untouchable(), odd, np.full((15, 17), 255, np.uint8), size=shape)):
        with pytest.raises(ValueError, match=r"image is 15x17 .*model works at 8x8") as e:
            edit()
        one_line(e)
    # a mask file's size is checked from its header too
    image = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match=r"mask .*broken64.png is 64x64 .*the image is 8x8"):
        inpaint_image(Untouchable(), image, broken, size=shape)


def test_pixel_codec_refuses_another_shape_than_the_models():
    encode, _ = pixel_codec({"pixel_range": [0, 16], "transform": {"type": "affine", "shift": 8.0, "scale": 8.0},
                             "shape": [1, 8, 8]})
    assert encode(torch.zeros(2, 1, 8, 8)).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"\(1, 64, 64\) .*model works at \(1, 8, 8\)"):
        encode(torch.zeros(1, 1, 64, 64))


# -- 4. feather -------------------------------------------------------------------------------------
def test_feather_radius_is_bounded_by_the_image():
    m = torch.zeros(1, 1, 8, 12)
    m[..., 2:6, 3:9] = 1
    assert check_feather(12, m.shape) == 12.0
    for radius in (12.5, 1e9):
        with pytest.raises(ValueError, match="larger than the image's larger side \\(12 pixels\\)") as e:
            feather_weights(m, radius)
        one_line(e)
    # why: a blur as wide as the image already all but fades the fill out
    assert feather_weights(m, 12).max() < 0.2 < feather_weights(m, 2).max()
    with pytest.raises(ValueError, match="larger side"):  # before any sampling
        inpaint_image(Untouchable(), np.zeros((8, 12), np.uint8), (m[0, 0] * 255).byte().numpy(), feather=1e9)


# -- 5. super-resolution in tiles -----------------------------------------------------------------
@pytest.fixture(scope="module")
def sr():
    return sr_pipeline.load_superres()


def photo(h, w):
    return np.ascontiguousarray(load_photo("astronaut")[100:100 + h, 180:180 + w])


def untiled(m, y, seed=0):
    """The one-piece computation (SR3 with noise-conditioning augmentation) written out."""
    cfg, s = m.config, m.scale
    z = difflab.tensors.randn(y.shape, seed + 7_919)
    c = superres.condition(y, s, torch.full((y.shape[0],), float(cfg["aug_level"])), cfg["aug_max"], z)
    noise = difflab.tensors.randn((y.shape[0], 3, s * y.shape[-2], s * y.shape[-1]), seed) * 0.0
    x0 = difflab.sample(m.denoiser, noise, "ddim", 1, generator=seed, cond={"concat": c})
    return (superres.upsample(y, s) + x0 / float(cfg["residual_scale"])).clamp(-1, 1)


def test_tiles_cover_the_image_with_weights_summing_to_one():
    assert superres._spans(100, 128, 16) == [(0, 100)]
    for length, tile, overlap in ((1000, 128, 16), (129, 128, 16), (37, 16, 4), (40, 16, 0)):
        spans = superres._spans(length, tile, overlap)
        assert spans[0][0] == 0 and spans[-1][1] == length and all(b - a == tile for a, b in spans)
        assert all(a1 - a0 <= tile - overlap for (a0, _), (a1, _) in zip(spans, spans[1:])), "overlap kept"
        total = torch.zeros(length, dtype=torch.float64)
        for (a, b), w in zip(spans, superres._blend_weights(spans, length, 4 * overlap)):
            assert (w > 0).all()
            total[a:b] += w
        torch.testing.assert_close(total, torch.ones(length, dtype=torch.float64))
    assert superres._spans(1000, 128, 16)[:2] == [(0, 128), (109, 237)]


def test_an_image_of_one_tile_is_computed_as_before(sr):
    y = superres.to_tensor(photo(24, 20))
    assert torch.equal(superres.superresolve(sr, y, tile=24), untiled(sr, y))


def test_tiled_upscale_agrees_with_the_untiled_one(sr, monkeypatch):
    low = photo(32, 32)
    whole = sr_pipeline.upscale(sr, low).astype(int)
    calls = []
    sample = difflab.samplers.sample
    monkeypatch.setattr(difflab.samplers, "sample", lambda *a, **k: calls.append(a[1].shape) or sample(*a, **k))
    tiled = sr_pipeline.upscale(sr, low, tile=16, overlap=4).astype(int)
    assert calls == [(1, 3, 64, 64)] * 9, "3 x 3 tiles of 16 x 16 input pixels"
    diff = np.abs(tiled - whole)
    # the tiles differ from the whole only through the network's global statistics
    # (GroupNorm, the middle attention layer): max 4, mean 0.26 grey levels, PSNR 53.8 dB
    assert diff.max() <= 6 and diff.mean() <= 0.5
    assert psnr(tiled, whole) > 48


def test_upscale_of_an_image_larger_than_a_tile(sr, tmp_path):
    path = tmp_path / "low.png"
    Image.fromarray(photo(40, 24)).save(path)
    out = sr_pipeline.upscale(sr, path, tile=16, overlap=4, steps=2, sampler="ddpm", temperature=1.0)
    assert out.shape == (160, 96, 3) and out.dtype == np.uint8
    assert np.array_equal(out, sr_pipeline.upscale(sr, path, tile=16, overlap=4, steps=2, sampler="ddpm",
                                                temperature=1.0)), "the same seed gives the same pixels"
    assert psnr(out, sr_pipeline.bicubic(path)) > 20


def test_upscale_checks_both_sizes_before_any_work(sr, monkeypatch):
    monkeypatch.setattr(difflab.samplers, "sample", Untouchable())
    with limits.raised(pixels=1000):
        with pytest.raises(ValueError, match=r"x4 upscaled image \(80x80\) asks for 6,400 pixels") as e:
            sr_pipeline.upscale(sr, photo(20, 20))
        one_line(e)
        with pytest.raises(ValueError, match=r"low-resolution image \(40x40\)"):
            superres.superresolve(sr, torch.zeros(1, 3, 40, 40))
    for bad in ({"tile": 0}, {"overlap": -1}, {"tile": 8, "overlap": 8}, {"tile": 2.5}):
        with pytest.raises(ValueError, match="tile|overlap"):
            superres.superresolve(sr, torch.zeros(1, 3, 8, 8), **bad)

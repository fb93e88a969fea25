"""difflab.colour: the YIQ transform and hue transfer (keep_hue), checked against what they promise
on images built by hand."""

import math

import pytest
import torch

from difflab.colour import keep_hue, rgb_to_yiq, yiq_to_rgb
from difflab.tensors import gaussian_blur


def _solid(rgb, size=12):
    """(1, 3, size, size) in [-1, 1], one colour (RGB in [0, 1])."""
    return (torch.tensor(rgb, dtype=torch.float64).view(1, 3, 1, 1) * 2 - 1).expand(1, 3, size, size).clone()


def _hue_and_chroma(image):
    yiq = rgb_to_yiq((image.double() + 1) / 2)
    return yiq[:, 0], torch.atan2(yiq[:, 2], yiq[:, 1]), yiq[:, 1:].norm(dim=1)


def test_yiq_round_trip_and_greys_have_no_chroma():
    x = torch.rand(3, 3, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-12, rtol=0)
    grey = rgb_to_yiq(torch.full((1, 3, 2, 2), 0.4, dtype=torch.float64))
    torch.testing.assert_close(grey[:, 0], torch.full((1, 2, 2), 0.4, dtype=torch.float64))
    assert grey[:, 1:].abs().max() < 1e-12


def test_gaussian_blur_keeps_constants_and_mass():
    for border in ("replicate", "reflect"):
        torch.testing.assert_close(gaussian_blur(torch.full((2, 2, 9, 9), 0.3, dtype=torch.float64), 1.5, 4, border),
                                   torch.full((2, 2, 9, 9), 0.3, dtype=torch.float64))
    spike = torch.zeros(1, 1, 31, 31, dtype=torch.float64)
    spike[0, 0, 15, 15] = 1
    out = gaussian_blur(spike, 2.0, 6)
    assert abs(out.sum().item() - 1) < 1e-12 and out[0, 0, 15, 15] < 0.05
    # its second moment along a row is the Gaussian's variance (truncated at 3 std: within 3 %)
    row = out[0, 0].sum(0)
    var = (row * (torch.arange(31, dtype=torch.float64) - 15) ** 2).sum()
    assert abs(var.item() / 4.0 - 1) < 0.03
    # separable and per channel: a blur of two channels is each channel's blur
    two = torch.rand(1, 2, 12, 10, dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(two, 1.0, 3)[:, 1:], gaussian_blur(two[:, 1:], 1.0, 3))


def test_keep_hue_takes_the_contents_hue_and_keeps_the_styled_lightness_and_saturation():
    styled = _solid((0.7, 0.45, 0.4))   # a weakly saturated red (a tint)
    content = _solid((0.2, 0.3, 0.8))   # a saturated blue
    out = keep_hue(styled, content)
    y_s, _, c_s = _hue_and_chroma(styled)
    _, h_c, _ = _hue_and_chroma(content)
    y_o, h_o, c_o = _hue_and_chroma(out)
    assert out.min() > -1 and out.max() < 1  # in gamut: nothing was clamped
    c = _hue_and_chroma(content)[2][0, 0, 0].item()
    w = c ** 2 / (c ** 2 + 0.05 ** 2)  # the share of the content's hue (floor 0.05)
    torch.testing.assert_close(y_o, y_s, atol=1e-6, rtol=0)
    torch.testing.assert_close(c_o, c_s, atol=1e-6, rtol=0)  # same magnitude: the rotation keeps it
    # the hue turns to the content's, the direction w u + (1 - w) (the styled one's) exactly
    _, h_s, _ = _hue_and_chroma(styled)
    v = w * torch.stack([h_c.cos(), h_c.sin()]) + (1 - w) * torch.stack([h_s.cos(), h_s.sin()])
    torch.testing.assert_close(h_o, torch.atan2(v[1], v[0]), atol=1e-6, rtol=0)
    assert w > 0.95 and (h_o - h_c).abs().max() < 0.03
    # the same colour stays itself
    torch.testing.assert_close(keep_hue(content, content), content.to(content.dtype), atol=1e-6, rtol=0)


def test_a_grey_content_leaves_the_styled_image_as_it_is():
    styled = torch.rand(2, 3, 10, 10, dtype=torch.float64) * 2 - 1
    for grey in (0.0, 0.5, 1.0):
        torch.testing.assert_close(keep_hue(styled, _solid((grey,) * 3, 10).expand(2, -1, -1, -1)), styled,
                                   atol=1e-6, rtol=0)


def test_hue_reaches_a_styled_edge_a_pixel_off_the_contents():
    """A styled object one pixel wider than the content's: with blur, the extra ring takes most of
    the content's hue (the blurred content's chroma is weaker there, so some of its own stays);
    without, it keeps its own."""
    content = _solid((1.0, 1.0, 1.0), 16)
    content[:, :, 5:11, 5:11] = torch.tensor([0.2, 0.8, 0.2], dtype=torch.float64).view(1, 3, 1, 1) * 2 - 1
    styled = _solid((1.0, 1.0, 1.0), 16)
    styled[:, :, 4:12, 4:12] = torch.tensor([0.8, 0.7, 0.1], dtype=torch.float64).view(1, 3, 1, 1) * 2 - 1
    green = _hue_and_chroma(content)[1][0, 8, 8]
    ring = (0, 4, 8)  # on the styled object, outside the content's
    sharp, blurred = keep_hue(styled, content, blur=0), keep_hue(styled, content, blur=1.5)
    off_sharp = abs(_hue_and_chroma(sharp)[1][ring].item() - green.item())
    off_blurred = abs(_hue_and_chroma(blurred)[1][ring].item() - green.item())
    assert off_sharp > 1.0 and off_blurred < 0.2 * off_sharp
    # inside both objects the hue is the content's either way
    for out in (sharp, blurred):
        assert abs(_hue_and_chroma(out)[1][0, 8, 8].item() - green.item()) < 0.05


def test_each_image_is_its_own_and_bad_input_is_refused():
    g = torch.Generator().manual_seed(0)
    a, b = (torch.rand(3, 3, 8, 8, generator=g) * 2 - 1 for _ in range(2))
    both = keep_hue(a, b)
    assert both.dtype == a.dtype and both.shape == a.shape
    for i in range(3):
        torch.testing.assert_close(keep_hue(a[i:i + 1], b[i:i + 1]), both[i:i + 1], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="one shape"):
        keep_hue(a, b[:2])
    with pytest.raises(ValueError, match="one shape"):
        keep_hue(a[:, :2], b[:, :2])
    with pytest.raises(ValueError, match="blur"):
        keep_hue(a, b, blur=-1)
    with pytest.raises(ValueError, match="floor"):
        keep_hue(a, b, floor=0)
    assert math.isfinite(keep_hue(a, torch.zeros_like(b)).sum().item())

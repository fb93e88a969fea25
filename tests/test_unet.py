import json

import pytest
import torch
from torch import nn

import difflab
from difflab.nets import NETS, UNet, net_from_config
from difflab.io.folders import load_model, save_model
from difflab.schedules import DiscreteSchedule

# small widths keep CPU time low; groups=8 divides 16 and 32
SMALL = dict(channels=16, channel_mult=(1, 2), num_res_blocks=1, groups=8, head_channels=16)
SIZES = {8: dict(image_size=8, attention_resolutions=(4,), channel_mult=(1, 2)),
         28: dict(image_size=28, attention_resolutions=(7,), channel_mult=(1, 2, 2)),  # 28 -> 14 -> 7
         32: dict(image_size=32, attention_resolutions=(16,), channel_mult=(1, 2))}
COND = {"none": {}, "labels": dict(num_classes=10), "context": dict(context_dim=12), "concat": dict(concat_channels=2)}


def _unet(size: int, **kw) -> UNet:
    return UNet(**{**SMALL, "in_channels": 1, **SIZES[size], **kw})


def _randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Give the zero-initialised output layers random weights, so outputs depend on everything."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if not p.any():
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return net


def _cond(kind: str, n: int, size: int) -> dict:
    g = torch.Generator().manual_seed(1)
    if kind == "labels":
        return {"labels": torch.arange(n) % 11}  # 10 = the null label
    if kind == "context":
        return {"context": torch.randn(n, 5, 12, generator=g), "context_mask": torch.rand(n, 5, generator=g) < 0.7}
    if kind == "concat":
        return {"concat": torch.randn(n, 2, size, size, generator=g)}
    return {}


@pytest.mark.parametrize("kind", list(COND))
@pytest.mark.parametrize("size", list(SIZES))
def test_shapes(size, kind):
    torch.manual_seed(0)
    net = _randomize(_unet(size, **COND[kind]))
    x = torch.randn(3, 1, size, size)
    with torch.no_grad():
        out = net(x, torch.tensor([0.0, 10.0, 999.0]), **_cond(kind, 3, size))
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()


def test_odd_and_non_square_sizes():
    net = _randomize(_unet(28))  # two downsamplings: 13 -> 7 -> 4 and 9 -> 5 -> 3, and back
    with torch.no_grad():
        assert net(torch.randn(2, 1, 13, 9), torch.tensor([1.0, 2.0])).shape == (2, 1, 13, 9)


def test_three_channels_and_out_channels():
    net = _randomize(UNet(in_channels=3, out_channels=6, **{**SMALL, **SIZES[32]}))
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32), torch.tensor([1.0, 2.0])).shape == (2, 6, 32, 32)


def test_output_is_zero_at_init_and_attention_is_placed():
    torch.manual_seed(0)
    net = _unet(28, num_classes=10, context_dim=12, concat_channels=2)
    x = torch.randn(2, 1, 28, 28)
    out = net(x, torch.tensor([3.0, 400.0]), **_cond("labels", 2, 28), concat=torch.randn(2, 2, 28, 28),
              context=torch.randn(2, 4, 12))
    assert torch.equal(out, torch.zeros_like(x))
    # attention at resolution 7 only (level 2 of 28 -> 14 -> 7), plus the middle block
    n_attn = sum(type(m).__name__ == "AttentionBlock" for m in net.modules())
    assert n_attn == 1 + 1 + 2  # down level 2 (1 res block), middle, up level 2 (2 res blocks)


def test_depends_on_noise_level_and_labels():
    torch.manual_seed(0)
    net = _randomize(_unet(8, num_classes=10))
    x = torch.randn(1, 1, 8, 8).expand(4, -1, -1, -1)
    with torch.no_grad():
        out = net(x, torch.tensor([5.0, 5.0, 500.0, 5.0]), labels=torch.tensor([1, 1, 1, 2]))
        null = net(x[:1], torch.tensor([5.0]))  # labels=None: the null label
        torch.testing.assert_close(null, net(x[:1], torch.tensor([5.0]), labels=torch.tensor([10])))
    torch.testing.assert_close(out[0], out[1])
    assert (out[0] - out[2]).abs().max() > 1e-4 and (out[0] - out[3]).abs().max() > 1e-4


def test_bad_inputs_are_named():
    net = _unet(8, num_classes=10, context_dim=12, concat_channels=2)
    x, t, c = torch.randn(2, 1, 8, 8), torch.ones(2), torch.randn(2, 2, 8, 8)
    with pytest.raises(ValueError, match="labels must lie in 0 .. 10"):
        net(x, t, labels=torch.tensor([0, 11]), concat=c)
    with pytest.raises(ValueError, match="concat must have shape"):
        net(x, t)
    with pytest.raises(ValueError, match=r"context must have shape \(2, L, 12\)"):
        net(x, t, concat=c, context=torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="context_mask must have shape"):
        net(x, t, concat=c, context=torch.randn(2, 3, 12), context_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, H, W\)"):
        net(torch.randn(2, 3, 8, 8), t, concat=c)
    with pytest.raises(ValueError, match="no class conditioning"):
        _unet(8)(x, t, labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="groups=8 must divide"):
        UNet(channels=12, groups=8)
    with pytest.raises(ValueError, match=r"attention_resolutions \[16\] match no level.*\[28, 14, 7\]"):
        UNet(image_size=28, attention_resolutions=(16,))


def test_cross_attention_uses_context_and_ignores_masked_tokens():
    torch.manual_seed(0)
    net = _randomize(_unet(8, context_dim=12)).eval()
    g = torch.Generator().manual_seed(3)
    x, t = torch.randn(2, 1, 8, 8, generator=g), torch.tensor([20.0, 20.0])
    ctx = torch.randn(2, 6, 12, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    with torch.no_grad():
        base = net(x, t, context=ctx, context_mask=mask)
        # the output depends on the attended tokens
        other = ctx.clone()
        other[:, 1] += 1.0
        assert (net(x, t, context=other, context_mask=mask) - base).abs().max() > 1e-4
        # ... and not at all on masked ones
        junk = ctx.clone()
        junk[:, 3:] = 100 * torch.randn(2, 3, 12, generator=g)
        torch.testing.assert_close(net(x, t, context=junk, context_mask=mask), base)
        # masking = leaving the padding out
        torch.testing.assert_close(net(x, t, context=ctx[:, :3]), base, atol=1e-5, rtol=1e-4)
        # no token attended = no context (no NaN from an empty softmax)
        empty = net(x, t, context=ctx, context_mask=torch.zeros(2, 6, dtype=torch.bool))
        torch.testing.assert_close(empty, net(x, t))
        assert (net(x, t) - base).abs().max() > 1e-4


def test_config_round_trip_through_saving(tmp_path):
    torch.manual_seed(0)
    net = _randomize(_unet(8, num_classes=10, context_dim=12, concat_channels=2, dropout=0.1))
    assert NETS["unet"] is UNet
    json.dumps(net.config)
    assert net_from_config(net.config).config == net.config
    den = difflab.Denoiser(net, DiscreteSchedule("cosine", 100), "v")
    save_model(tmp_path / "m", den, {"task": "image"})
    back, cfg = load_model(tmp_path / "m")
    assert cfg["net"] == net.config and isinstance(back.net, UNet) and not back.net.training
    cond = {"labels": torch.tensor([3, 10]), "context": torch.randn(2, 4, 12), "concat": torch.randn(2, 2, 8, 8)}
    x = torch.randn(2, 1, 8, 8)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(back(x, 2.0, **cond), den(x, 2.0, **cond))


def test_channels_last_and_bf16_autocast():
    torch.manual_seed(0)
    net = _randomize(_unet(28, num_classes=10, context_dim=12)).eval()
    x = torch.randn(2, 1, 28, 28)
    cond = {"labels": torch.tensor([1, 2]), "context": torch.randn(2, 3, 12)}
    t = torch.tensor([10.0, 600.0])
    with torch.no_grad():
        ref = net(x, t, **cond)
        net_cl = net.to(memory_format=torch.channels_last)
        out = net_cl(x.to(memory_format=torch.channels_last), t, **cond)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = net(x, t, **cond)
        loss = low.float().pow(2).mean()
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert (low - ref).abs().max() < 0.05 * ref.abs().max() + 1e-3  # bf16 has 8 bits of mantissa
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    net = _randomize(_unet(8, dropout=0.5))
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([1.0, 2.0])
    with torch.no_grad():
        assert (net(x, t) - net(x, t)).abs().max() > 0
        net.eval()
        torch.testing.assert_close(net(x, t), net(x, t))

"""Training precision: bfloat16 detection, the choice of precision, and bf16 training
numerics against float32 (issue 16, point 2)."""

import warnings

import pytest
import torch

from difflab import precision as P
from difflab.data.images import train_test
from difflab.denoiser import Denoiser
from difflab.nets import UNet
from difflab.schedules import DiscreteSchedule
from difflab.train import fit, read_checkpoint
from difflab.train.loop import CHECKPOINT


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'fp16'; expected one of: fp32, bf16, auto"):
        P.resolve_precision("fp16")


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_bf16_exactly_where_native_and_emulated_bf16_warns(monkeypatch, native):
    monkeypatch.setattr(P, "bf16_native", lambda device="cpu": (native, "because"))
    assert P.resolve_precision("fp32") == "fp32"
    assert P.resolve_precision("auto") == ("bf16" if native else "fp32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert P.resolve_precision("bf16") == "bf16"
    assert [str(w.message) for w in caught] == ([] if native else
                                                ["bf16 on cpu: because, so bfloat16 is emulated and slower than fp32"])


@pytest.mark.parametrize("amx, avx512_bf16, expected", [(False, False, False), (True, False, True), (False, True, True)])
def test_cpu_bf16_is_read_from_the_cpu_features(monkeypatch, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    native, why = P.bf16_native("cpu")
    assert native is expected
    assert why == {(False, False): "this CPU has neither AVX512-BF16 nor AMX", (True, False): "this CPU has AMX",
                   (False, True): "this CPU has AVX512-BF16"}[amx, avx512_bf16]


# --------------------------------------------------------------------------------------
# numerics: a short bf16 run follows the fp32 one within the noise of the loss curve
# --------------------------------------------------------------------------------------

DIGITS = train_test("digits")[0]


def digits_unet(seed=0):
    torch.manual_seed(seed)
    net = UNet(in_channels=1, channels=16, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(4,),
               image_size=8, groups=4, num_classes=10)
    return Denoiser(net, DiscreteSchedule("cosine", T=1000), "v", "index")


def draw_digits(n, g):
    i = torch.randint(0, len(DIGITS.images), (n,), generator=g)
    return DIGITS.images[i], {"labels": DIGITS.labels[i]}


def train_losses(precision: str, lr: float = 3e-3) -> list[float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # emulated bf16 warns on a CPU without it
        return fit(digits_unet(), draw_digits, steps=80, batch_size=32, lr=lr, warmup=5, p_uncond=0.1,
                   precision=precision, progress=False).losses


def within_noise(losses: list[float], reference: list[float]) -> bool:
    """The mean loss of the last 40 steps is within one standard deviation of a single
    step's loss (the curve's own noise: the batch and the draw of t and eps) of the
    reference run's; the same seed, so the same batches and noise."""
    tail, ref = torch.tensor(losses[-40:]), torch.tensor(reference[-40:])
    return bool((tail.mean() - ref.mean()).abs() < ref.std())


@pytest.mark.once
def test_bf16_loss_curve_is_within_noise_of_fp32():
    fp32, bf16 = train_losses("fp32"), train_losses("bf16")
    assert all(torch.isfinite(torch.tensor(bf16)))
    assert sum(fp32[-40:]) < 0.6 * 40 * (sum(fp32[:5]) / 5)  # the run learns: the comparison means something
    assert within_noise(bf16, fp32)
    # the check can fail: a run that learns too slowly is outside the noise
    assert not within_noise(train_losses("fp32", lr=3e-4), fp32)


def test_precision_is_recorded_and_may_change_on_resume(tmp_path):
    kw = dict(batch_size=8, warmup=1, out=tmp_path, checkpoint_every=2, progress=False)
    fit(digits_unet(), draw_digits, steps=2, precision="auto", **kw)
    assert read_checkpoint(tmp_path / CHECKPOINT).config["fit"]["precision"] == P.resolve_precision("auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = fit(digits_unet(), draw_digits, steps=4, precision="bf16", resume=True, **kw)
    assert r.step == 4
    assert read_checkpoint(tmp_path / CHECKPOINT).config["fit"]["precision"] == "bf16"

"""Compiled networks (difflab.compiler): the same model as the eager one, saved without
compiler prefixes, resumed exactly; eager with one warning where nothing can compile."""

from __future__ import annotations

import warnings

import pytest
import torch

from difflab import compiler
from difflab.io.folders import load_weights
from difflab.train.toy import train_toy

KW = dict(steps=6, batch_size=64, width=16, depth=1, checkpoint_every=3, progress=False)


def _weights(folder):
    return load_weights(folder / "model.safetensors")


def _needs_compiler():
    ok, why = compiler.compiler_available("cpu")
    if not ok:
        pytest.skip(f"no working torch.compile here: {why}")


@pytest.mark.slow
def test_compiled_training_is_the_eager_model_and_resumes_exactly(tmp_path, kill_after_first_checkpoint):
    _needs_compiler()
    train_toy("moons", out=tmp_path / "eager", **KW)
    train_toy("moons", out=tmp_path / "compiled", compile=True, **KW)
    eager, comp = _weights(tmp_path / "eager"), _weights(tmp_path / "compiled")
    assert comp.keys() == eager.keys() and not any("_orig_mod" in k for k in comp)
    for k in eager:  # fused kernels round differently, nothing more
        torch.testing.assert_close(comp[k], eager[k], rtol=1e-4, atol=1e-5)

    kill_after_first_checkpoint(lambda: train_toy("moons", out=tmp_path / "cut", compile=True, **KW))
    train_toy("moons", out=tmp_path / "cut", compile=True, resume=True, **KW)
    cut = _weights(tmp_path / "cut")
    assert all(torch.equal(cut[k], comp[k]) for k in comp)


@pytest.mark.slow
def test_a_compiled_denoiser_samples_like_the_eager_one():
    _needs_compiler()
    import difflab
    from difflab.nets import MLP

    torch.manual_seed(0)
    den = difflab.Denoiser(MLP(2, width=16, depth=1), difflab.VPSchedule(), "eps", "t")
    eager = difflab.sample(den, (8, 2), "ddim", 4, generator=0)
    net = den.net
    den.compile()
    assert den.net is net  # what is saved stays the network itself
    torch.testing.assert_close(difflab.sample(den, (8, 2), "ddim", 4, generator=0), eager, rtol=1e-4, atol=1e-5)


def test_without_a_compiler_training_runs_eager_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setitem(compiler._AVAILABLE, "cpu", (False, "InvalidCxxCompiler: no working C++ compiler found"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_toy("moons", out=tmp_path / "m", compile=True, **{**KW, "steps": 2})
    messages = [str(w.message) for w in caught if "torch.compile" in str(w.message)]
    assert messages == ["torch.compile is not usable on cpu here (InvalidCxxCompiler: no working C++ compiler found); "
                        "running eager"]
    assert (tmp_path / "m" / "model.safetensors").is_file()

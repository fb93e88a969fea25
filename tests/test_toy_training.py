"""End to end: a moons model trained by the library samples close to held-out moons."""

import pytest
import torch

import difflab
from difflab.data import Affine, toy_dataset
from difflab.io.folders import load_model
from difflab.train.toy import train_toy

from conftest import sw_ratio


@pytest.mark.slow
@pytest.mark.once
def test_moons_model_is_within_3x_noise_floor(tmp_path):
    folder = train_toy("moons", out=tmp_path / "moons", steps=3000, progress=False)  # the documented recipe
    den, cfg = load_model(folder)
    transform = Affine.from_config(cfg["data"]["transform"])
    x = transform.decode(difflab.sample(den, (2000, 2), "ddim", 50, generator=0))
    ratio = sw_ratio(x, toy_dataset("moons"))
    assert ratio < 3.0, f"moons samples are {ratio:.2f}x the noise floor"


def test_toy_datasets_are_deterministic_and_2d():
    for name, draw in difflab.data.TOY_DATASETS.items():
        a = draw(100, torch.Generator().manual_seed(0))
        b = draw(100, torch.Generator().manual_seed(0))
        assert a.shape == (100, 2) and torch.equal(a, b), name


def test_ema_swap_restores_weights():
    from difflab.train import EMA

    net = torch.nn.Linear(2, 2)
    ema = EMA(net, half_life=10)
    before = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, batch_size=10)  # beta = 0.5
    torch.testing.assert_close(ema.shadow["weight"], before + 0.5)
    trained = net.weight.detach().clone()
    with ema.swapped_in(net):
        torch.testing.assert_close(net.weight, before + 0.5)
    torch.testing.assert_close(net.weight, trained)


def test_toy_training_resumes_exactly_and_runs_on_the_given_device(tmp_path, monkeypatch):
    """Killed after its checkpoint at step 10, then resumed: the same weights as a run that
    was never interrupted (the toy trainer checkpoints like every other)."""
    import difflab.train.toy as toy
    from difflab.io.folders import load_model
    from difflab.train import read_checkpoint

    kw = dict(steps=20, batch_size=64, width=16, depth=1, checkpoint_every=5, progress=False, device="cpu")
    toy.train_toy("moons", out=tmp_path / "whole", **kw)
    real = toy.toy_dataset

    def dying(name):
        draw, calls = real(name), []

        def once(n, g):
            calls.append(n)
            if len(calls) == 13:  # the transform's draw, then steps 1 .. 11: dies in step 12
                raise KeyboardInterrupt
            return draw(n, g)
        return once

    monkeypatch.setattr(toy, "toy_dataset", dying)
    with pytest.raises(KeyboardInterrupt):
        toy.train_toy("moons", out=tmp_path / "cut", **kw)
    assert read_checkpoint(tmp_path / "cut" / "checkpoint.safetensors").step == 10
    monkeypatch.setattr(toy, "toy_dataset", real)
    toy.train_toy("moons", out=tmp_path / "cut", resume=True, **kw)
    a, b = load_model(tmp_path / "whole")[0].net, load_model(tmp_path / "cut")[0].net
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert next(a.parameters()).device.type == "cpu"

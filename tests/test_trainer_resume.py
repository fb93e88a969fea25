"""Every recipe resumes exactly: a run killed right after its checkpoint at step 2 and
continued with ``resume=True`` ends with the same weights, bit for bit, as the
uninterrupted run (on the CPU, one thread). The toy, image and autoencoder recipes have their own tests
(test_toy_training, test_engine, test_autoencoder); these cover super-resolution and
text-to-image."""

from __future__ import annotations

import pytest
import torch

from difflab.io.folders import load_weights, save_autoencoder


def _same_weights(a, b) -> None:
    wa, wb = load_weights(a / "model.safetensors"), load_weights(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


pytestmark = pytest.mark.usefixtures("one_thread")


def test_superres_resumes_exactly(tmp_path, kill_after_first_checkpoint):
    from difflab.train.superres import train_superres

    kw = dict(batch_size=2, crop=16, channels=8, channel_mult=(1, 2), groups=4, checkpoint_every=2, progress=False,
              photos=("astronaut",))
    train_superres(out=tmp_path / "whole", steps=4, **kw)
    kill_after_first_checkpoint(lambda: train_superres(out=tmp_path / "cut", steps=4, **kw))
    train_superres(out=tmp_path / "cut", steps=4, resume=True, **kw)
    _same_weights(tmp_path / "whole", tmp_path / "cut")
    train_superres(out=tmp_path / "cut", steps=5, resume=True, **kw)  # a resumed run may train longer


def test_text_to_image_resumes_exactly(tmp_path, kill_after_first_checkpoint):
    from difflab.nets.autoencoder import AutoencoderKL
    from difflab.pipelines.training import train_text_to_image

    torch.manual_seed(0)
    ae = AutoencoderKL(channels=8, channel_mult=(1, 1, 1), groups=4, scale_factor=1.5)
    save_autoencoder(tmp_path / "ae", ae, {"data": {"name": "shapes", "shape": [3, 32, 32]}})
    kw = dict(text_encoder="hashing", scenes=8, batch_size=4, channels=16, checkpoint_every=2, progress=False)
    train_text_to_image(tmp_path / "ae", out=tmp_path / "whole", steps=4, **kw)
    kill_after_first_checkpoint(lambda: train_text_to_image(tmp_path / "ae", out=tmp_path / "cut", steps=4, **kw))
    train_text_to_image(tmp_path / "ae", out=tmp_path / "cut", steps=4, resume=True, **kw)
    _same_weights(tmp_path / "whole" / "denoiser", tmp_path / "cut" / "denoiser")

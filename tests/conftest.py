import os

# torch's OpenMP threads spin while they wait; on a shared 2-core machine that costs 100x
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch

from difflab.metrics import noise_floor, sliced_wasserstein


#: torch's threads per test process: OMP_NUM_THREADS where set (scripts/test.sh runs the
#: suite once with 1 thread per process and once with torch's default, all cores)
THREADS = int(os.environ["OMP_NUM_THREADS"]) if os.environ.get("OMP_NUM_THREADS", "").isdigit() else torch.get_num_threads()


@pytest.fixture(autouse=True)
def _threads():
    """Every test starts with the pass's thread count, whatever a test before it set."""
    torch.set_num_threads(THREADS)
    yield


@pytest.fixture
def one_thread():
    """One torch thread for this test (tiny networks, where a second thread costs more than
    it gives); ``_threads`` gives the next test the pass's count again."""
    torch.set_num_threads(1)


@pytest.fixture
def kill_after_first_checkpoint(monkeypatch):
    """``kill(run)``: call ``run()``, killed (KeyboardInterrupt) as soon as the first
    checkpoint of its :func:`difflab.train.fit` is on disk."""
    import difflab.train.loop as loop

    real = loop.save_checkpoint

    def kill(run) -> None:
        def save_then_die(*args, **kwargs):
            real(*args, **kwargs)
            raise KeyboardInterrupt

        monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
        try:
            with pytest.raises(KeyboardInterrupt):
                run()
        finally:
            monkeypatch.setattr(loop, "save_checkpoint", real)

    return kill


@pytest.fixture(autouse=True)
def _caches(tmp_path_factory, monkeypatch):
    """Every test, and every process it starts, keeps its caches (difflab's trained
    feature classifiers, matplotlib's font list) in the session's temporary folder,
    never in the user's home."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("DIFFLAB_CACHE", str(base / "difflab-cache"))
    monkeypatch.setenv("MPLCONFIGDIR", str(base / "matplotlib"))


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory):
    """A tiny class-conditional digits model folder (3 training steps), shared by the tests."""
    from difflab.cli import main

    folder = tmp_path_factory.mktemp("digits") / "m"
    assert main(["train", "image", "--data", "digits", "--steps", "3", "--channels", "16", "--batch-size", "8",
                 "--out", str(folder), "--quiet"]) == 0
    return folder


def sw_ratio(samples, draw, n_refs: int = 3) -> float:
    """Mean SW2 of ``samples`` against n_refs fresh true draws, over the mean noise floor
    (SW2 between two true draws of the same size). 1.0 is a perfect sampler."""
    n = len(samples)
    err = sum(sliced_wasserstein(samples, draw(n, torch.Generator().manual_seed(500 + s))) for s in range(n_refs)) / n_refs
    floor = sum(noise_floor(draw, n, seed=s) for s in range(n_refs)) / n_refs
    return err / floor


@pytest.fixture(scope="session")
def tiny_unclip(tmp_path_factory):
    """A CLIP encoder, prior and decoder trained a few steps on 32-pixel scenes with the hashing
    text encoder, the decoder fine-tuned from a 1-step text-to-image pipeline, assembled."""
    from difflab.io.folders import save_autoencoder
    from difflab.nets.autoencoder import AutoencoderKL
    from difflab.pipelines.clip_training import train_clip
    from difflab.pipelines.training import train_text_to_image
    from difflab.pipelines.unclip_training import assemble_unclip, train_decoder, train_prior

    root = tmp_path_factory.mktemp("unclip")
    torch.manual_seed(0)
    save_autoencoder(root / "ae", AutoencoderKL(channels=8, channel_mult=(1, 1, 1), groups=4, scale_factor=1.5),
                     {"data": {"name": "shapes", "shape": [3, 32, 32]}})
    train_text_to_image(root / "ae", out=root / "t2i", text_encoder="hashing", scenes=8, steps=1, batch_size=4,
                        channels=16, progress=False)
    train_clip(out=root / "clip", text_encoder="hashing", image_size=32, scenes=16, steps=3, batch_size=8,
               embed_dim=8, channels=(8, 16), width=16, layers=1, heads=2, checkpoint_every=2, progress=False)
    train_prior(root / "clip", out=root / "prior", scenes=16, steps=2, batch_size=8, width=16, layers=1, heads=2,
                progress=False)
    train_decoder(root / "clip", out=root / "decoder", init=root / "t2i", scenes=16, steps=2, batch_size=4,
                  progress=False)
    assemble_unclip(root / "clip", root / "prior", root / "decoder", root / "unclip",
                    defaults={"prior_steps": 3, "steps": 3})
    return root


@pytest.fixture(scope="session")
def tiny_superres(tmp_path_factory):
    """A super-resolution model folder trained 3 steps (x4, tiny)."""
    from difflab.train.superres import train_superres

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("sr") / "tiny"
    train_superres(out=out, steps=3, batch_size=4, crop=16, channels=8, channel_mult=(1, 2), groups=4,
                   checkpoint_every=3, progress=False, photos=("astronaut",))
    return out

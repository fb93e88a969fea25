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

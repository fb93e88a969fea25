import os

# torch's OpenMP threads spin while they wait; on a shared 2-core machine that costs 100x
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch

from difflab.metrics import noise_floor, sliced_wasserstein


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
    yield


def sw_ratio(samples, draw, n_refs: int = 3) -> float:
    """Mean SW2 of ``samples`` against n_refs fresh true draws, over the mean noise floor
    (SW2 between two true draws of the same size). 1.0 is a perfect sampler."""
    n = len(samples)
    err = sum(sliced_wasserstein(samples, draw(n, torch.Generator().manual_seed(500 + s))) for s in range(n_refs)) / n_refs
    floor = sum(noise_floor(draw, n, seed=s) for s in range(n_refs)) / n_refs
    return err / floor

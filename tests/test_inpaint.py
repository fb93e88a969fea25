"""Imputation by replacement (Song et al. 2021, app. I.2) around any sampler."""

import pytest
import torch

import difflab
from difflab.inpaint import Inpainter
from difflab.models import GaussianMixture

TWO = GaussianMixture([1.0, 1.0], [[-2.0, -2.0], [2.0, 2.0]], [0.09, 0.09])


@pytest.mark.parametrize("schedule,sampler,steps", [
    (difflab.DiscreteSchedule(), "ddpm", 500),
    (difflab.VESchedule(0.01, 50.0), "pc", 200),
    (difflab.VPSchedule(), "euler-maruyama", 300),
])
def test_replacement_keeps_known_values_and_picks_the_mode(schedule, sampler, steps):
    n = 1000
    known = torch.zeros(n, 2, dtype=torch.float64)
    known[:, 0] = 2.0
    mask = torch.tensor([0.0, 1.0], dtype=torch.float64)  # generate the second coordinate
    x = difflab.sample(Inpainter(TWO.denoiser(schedule), known, mask, generator=0), (n, 2), sampler, steps, generator=1)
    assert torch.equal(x[:, 0], known[:, 0]), "known values are kept to the bit"
    # the exact conditional puts all its mass on the (2, 2) component: y ~ N(2, 0.09)
    assert (x[:, 1] > 0).double().mean() > 0.95
    assert x[:, 1].median().item() == pytest.approx(2.0, abs=0.25)


def test_mask_errors():
    den = TWO.denoiser(difflab.VPSchedule())
    known = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="does not fit"):
        Inpainter(den, known, torch.ones(3))
    with pytest.raises(ValueError, match="only 0"):
        Inpainter(den, known, torch.full((4, 2), 0.5))


def test_batch_invariance():
    den = TWO.denoiser(difflab.VESchedule(0.01, 50.0))
    known = torch.zeros(4, 2, dtype=torch.float64)
    mask = torch.tensor([0.0, 1.0], dtype=torch.float64)
    a = difflab.sample(Inpainter(den, known, mask, generator=5), (4, 2), "pc", 20, generator=3)
    b = torch.cat([difflab.sample(Inpainter(den, known[:1], mask, generator=5 + i), (1, 2), "pc", 20, generator=3 + i)
                   for i in range(4)])
    torch.testing.assert_close(a, b)

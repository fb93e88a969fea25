import pytest
import torch

from difflab import predictions as P

KINDS = ["eps", "x0", "v", "score"]


@pytest.mark.parametrize("alpha,sigma", [(0.8, 0.6), (1.0, 3.0), (0.3, 0.2)])
@pytest.mark.parametrize("src", KINDS)
@pytest.mark.parametrize("dst", KINDS)
def test_round_trips_and_consistency(alpha, sigma, src, dst):
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(5, 3, generator=g, dtype=torch.float64)
    a, s = torch.tensor(alpha, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)
    x = a * x0 + s * eps
    src_val = P.target(src, x0, eps, a, s)
    converted = P.convert(src_val, src, dst, x, a, s)
    torch.testing.assert_close(converted, P.target(dst, x0, eps, a, s))
    torch.testing.assert_close(P.convert(converted, dst, src, x, a, s), src_val)
    torch.testing.assert_close(P.to_x0(src, src_val, x, a, s), x0)


def test_v_definition_salimans_ho():
    a, s = torch.tensor(0.6, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64)
    x0, eps = torch.ones(1, dtype=torch.float64), 2 * torch.ones(1, dtype=torch.float64)
    assert P.target("v", x0, eps, a, s).item() == pytest.approx(0.6 * 2 - 0.8 * 1)


def test_unknown_prediction():
    with pytest.raises(ValueError, match="expected one of: eps, x0, v, score"):
        P.Prediction.parse("noise")

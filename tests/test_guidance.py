import pytest
import torch
from torch import nn

import difflab
from difflab.guidance import ClassifierFreeGuidance, classifier_free_guidance
from difflab.nets import UNet
from difflab.schedules import DiscreteSchedule


class Recorder(nn.Module):
    """Wraps a network and records the batch size and conditioning of every call."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.calls = net, []
        self.config = net.config

    def forward(self, x, noise_input, **cond):
        self.calls.append({"n": x.shape[0], **cond})
        return self.net(x, noise_input, **cond)


def _model(**kw):
    torch.manual_seed(0)
    net = UNet(in_channels=1, channels=16, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(4,),
               image_size=8, groups=8, head_channels=16, **kw)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # give the zero-initialised layers weights, so conditions matter
        for p in net.parameters():
            if not p.any():
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return difflab.Denoiser(Recorder(net.eval()), DiscreteSchedule("linear", 100), "eps")


X = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
LABELS = torch.tensor([0, 4, 9])
NULL = torch.full((3,), 10)


@torch.no_grad()
def test_scale_0_is_unconditional_and_1_is_conditional():
    den = _model(num_classes=10)
    for sigma in (0.3, torch.tensor([2.0, 0.5, 7.0], dtype=torch.float64)):
        uncond, cond = den(X, sigma, labels=NULL), den(X, sigma, labels=LABELS)
        assert (uncond - cond).abs().max() > 1e-3
        assert torch.equal(ClassifierFreeGuidance(den, 0.0)(X, sigma, labels=LABELS), uncond)
        assert torch.equal(ClassifierFreeGuidance(den, 1.0, {"labels": 10})(X, sigma, labels=LABELS), cond)


@torch.no_grad()
@pytest.mark.parametrize("scale", [3.0, 0.5, -1.0])
def test_linear_extrapolation_in_one_call_of_2n(scale):
    den = _model(num_classes=10)
    uncond, cond = den(X, 1.5, labels=NULL), den(X, 1.5, labels=LABELS)
    den.net.calls.clear()
    guided = classifier_free_guidance(den, scale, {"labels": 10})(X, 1.5, labels=LABELS)
    torch.testing.assert_close(guided, uncond + scale * (cond - uncond), atol=1e-5, rtol=1e-5)
    (call,) = den.net.calls
    assert call["n"] == 6 and call["labels"].tolist() == [0, 4, 9, 10, 10, 10]
    # guiding x0 is guiding eps: eps = (x - x0) / sigma is affine in x0 with the same coefficients
    eps = lambda x0: (X - x0) / 1.5  # noqa: E731
    torch.testing.assert_close(eps(guided), eps(uncond) + scale * (eps(cond) - eps(uncond)), atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_through_sample():
    den = _model(num_classes=10)
    guided = ClassifierFreeGuidance(den, 4.0)  # the null label read from the network's config
    assert guided.null_cond == {"labels": 10} and guided.schedule is den.schedule
    den.net.calls.clear()
    x, info = difflab.sample(guided, (3, 1, 8, 8), "ddim", steps=4, generator=0, cond={"labels": LABELS},
                             return_info=True)
    assert x.shape == (3, 1, 8, 8) and torch.isfinite(x).all()
    assert info.nfe == 4 and [c["n"] for c in den.net.calls] == [6] * 4
    # scale 1 samples exactly what the plain denoiser samples
    a = difflab.sample(ClassifierFreeGuidance(den, 1.0), (3, 1, 8, 8), "ddpm", steps=3, generator=5, cond={"labels": LABELS})
    b = difflab.sample(den, (3, 1, 8, 8), "ddpm", steps=3, generator=5, cond={"labels": LABELS})
    assert torch.equal(a, b)


@torch.no_grad()
@pytest.mark.parametrize("sampler,default", [("unipc", 3), ("deis", 3), ("lms", 4)])
def test_guided_multistep_order_is_capped_at_2(sampler, default):
    """Lu et al. 2022b: high-order multistep solvers are unstable under large guidance; on a
    guided model sample() runs them at order 2 unless an order is passed."""
    den = _model(num_classes=10)
    run = lambda model, **kw: difflab.sample(model, (3, 1, 8, 8), sampler, steps=6, generator=0,  # noqa: E731
                                             cond={"labels": LABELS}, return_info=True, **kw)
    guided = ClassifierFreeGuidance(den, 3.0)
    assert guided.max_solver_order == 2
    x, info = run(guided)
    assert info.order == 2 and torch.equal(x, run(guided, order=2)[0])
    high, info_high = run(guided, order=default)  # passed explicitly: kept
    assert info_high.order == default and (high - x).abs().max() > 1e-6
    # no extrapolating guidance, no cap: scale 1 and the plain denoiser run the sampler's default
    assert ClassifierFreeGuidance(den, 1.0).max_solver_order is None
    plain, info_plain = run(den)
    assert info_plain.order == default and torch.equal(plain, run(ClassifierFreeGuidance(den, 1.0))[0])
    assert run(guided, order=1)[1].order == 1  # a lower order than the cap is kept
    # the cap follows extrapolation: a branch weight below 0 (s > 1 or s < 0), not 0 <= s <= 1
    assert ClassifierFreeGuidance(den, 0.5).max_solver_order is None
    assert ClassifierFreeGuidance(den, -0.5).max_solver_order == 2
    assert difflab.sample(guided, (3, 1, 8, 8), "ddim", steps=3, cond={"labels": LABELS}, return_info=True)[1].order is None


def test_style_guidance_is_capped_when_any_term_extrapolates():
    from difflab.guidance import StyleGuidance

    den = _model(num_classes=10)
    # D_u + s (D_c - D_u) + s_style (D_styled - D_c): branch weights (1 - s, s - s_style, s_style)
    assert StyleGuidance(den, 1.0, 1.0).max_solver_order is None  # = D_styled alone
    assert StyleGuidance(den, 1.0, 0.0).max_solver_order is None  # = D_c alone
    assert StyleGuidance(den, 1.0, 2.0).max_solver_order == 2  # the style pushed past the content
    assert StyleGuidance(den, 3.0, 3.0).max_solver_order == 2


@torch.no_grad()
def test_img2img_and_tune_grid_report_the_order():
    from difflab.samplers import optimize_grid
    from difflab.tasks.img2img import img2img

    den = _model(num_classes=10)
    guided = ClassifierFreeGuidance(den, 3.0)
    x = torch.zeros(3, 1, 8, 8)
    _, info = img2img(guided, x, 0.6, sampler="unipc", steps=5, generator=0, cond={"labels": LABELS}, return_info=True)
    assert info.order == 2 and info.steps == 3
    search = optimize_grid(guided, (3, 1, 8, 8), "unipc", 3, cond={"labels": LABELS}, reference_steps=12, sweeps=1)
    assert search.order == 2 and search.to_json()["order"] == 2 and "order" not in search.options


@torch.no_grad()
def test_text_null_via_mask_and_shared_concat():
    den = _model(context_dim=12, concat_channels=2)
    g = torch.Generator().manual_seed(2)
    ctx, concat = torch.randn(3, 5, 12, generator=g), torch.randn(3, 2, 8, 8, generator=g)
    mask = torch.ones(3, 5, dtype=torch.bool)
    null = {"context_mask": False}  # attend to no token: the unconditional branch
    guided = ClassifierFreeGuidance(den, 0.0, null)(X, 0.8, context=ctx, context_mask=mask, concat=concat)
    torch.testing.assert_close(guided, den(X, 0.8, concat=concat))
    den.net.calls.clear()
    ClassifierFreeGuidance(den, 2.0, null)(X, 0.8, context=ctx, context_mask=mask, concat=concat)
    (call,) = den.net.calls
    assert call["n"] == 6 and call["context_mask"][:3].all() and not call["context_mask"][3:].any()
    assert torch.equal(call["concat"], torch.cat([concat, concat]))  # not in null_cond: shared


def test_errors():
    den = _model(num_classes=10)
    with pytest.raises(ValueError, match="null_cond is needed"):
        ClassifierFreeGuidance(_model(), 2.0)
    with pytest.raises(ValueError, match="pass the condition explicitly"):
        ClassifierFreeGuidance(den, 2.0)(X, 1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        ClassifierFreeGuidance(den, 2.0, {"labels": torch.tensor([10, 10])})(X, 1.0, labels=LABELS)
    with pytest.raises(ValueError, match="finite"):
        ClassifierFreeGuidance(den, float("nan"))


# -- embedding guidance (CLIP guidance read at the denoised estimate) --------------------------------


def _gauss(v: float = 0.5):
    from difflab.models import GaussianMixture

    return GaussianMixture([1.0], torch.zeros(1, 2, dtype=torch.float64), [v]).denoiser(DiscreteSchedule("cosine", 1000))


def test_embedding_guidance_is_the_closed_form_gradient_step_on_a_gaussian():
    from difflab.guidance import EmbeddingGuidance

    v, s, sigma = 0.5, 0.7, 1.3
    den = _gauss(v)
    x = torch.tensor([[1.0, -0.4], [0.2, 0.9]], dtype=torch.float64)
    z = torch.tensor([[0.0, 1.0], [3.0, 4.0]], dtype=torch.float64)
    guided = EmbeddingGuidance(den, lambda x0: x0, z, s, sigma_data=v ** 0.5)
    c = v / (v + sigma ** 2)  # D(x; sigma) = c x for N(0, v I)
    assert torch.allclose(den(x, torch.tensor(sigma)), c * x)
    u, zh = c * x, z / z.norm(dim=1, keepdim=True)
    uh = u / u.norm(dim=1, keepdim=True)
    grad = c * (zh - (uh * zh).sum(1, keepdim=True) * uh) / u.norm(dim=1, keepdim=True)  # d cos(c x, z) / dx
    w = sigma ** 2 * v / (sigma ** 2 + v)
    assert torch.allclose(guided(x, torch.tensor(sigma)), c * x + s * w * grad, atol=1e-6)
    assert guided.weight(1e6) == pytest.approx(v, rel=1e-6) and guided.weight(1e-3) == pytest.approx(1e-6, rel=1e-3)
    assert torch.equal(EmbeddingGuidance(den, lambda x0: x0, z, 0.0)(x, torch.tensor(sigma)), den(x, torch.tensor(sigma)))


def test_embedding_guidance_moves_samples_to_the_mode_the_target_names():
    from difflab.guidance import EmbeddingGuidance
    from difflab.models import GaussianMixture

    mix = GaussianMixture([0.5, 0.5], torch.tensor([[-2.0], [2.0]], dtype=torch.float64), [0.05, 0.05])
    den = mix.denoiser(DiscreteSchedule("cosine", 1000))

    def embed(x0):  # a "classifier": which side of 0, as a direction in 2-D
        return torch.cat([torch.tanh(x0), torch.full_like(x0, 0.3)], dim=1)

    n = 2000
    plain = difflab.sample(den, (n, 1), "unipc", 20, generator=0)
    right = difflab.sample(EmbeddingGuidance(den, embed, torch.tensor([1.0, 0.0]), 10.0), (n, 1), "unipc", 20, generator=0)
    left = difflab.sample(EmbeddingGuidance(den, embed, torch.tensor([-1.0, 0.0]), 10.0), (n, 1), "unipc", 20, generator=0)
    assert 0.45 < (plain > 0).double().mean() < 0.55
    assert (right > 0).double().mean() > 0.75 and (left < 0).double().mean() > 0.75  # 0.80 here
    for x in (right, left):  # the samples stay in the modes, not between them
        assert ((x.abs() - 2).abs() < 1).double().mean() > 0.97


def test_embedding_guidance_errors():
    from difflab.guidance import EmbeddingGuidance

    den = _gauss()
    with pytest.raises(ValueError, match=">= 0"):
        EmbeddingGuidance(den, lambda x0: x0, torch.ones(2), -1.0)
    with pytest.raises(ValueError, match="non-zero"):
        EmbeddingGuidance(den, lambda x0: x0, torch.zeros(2), 1.0)
    with pytest.raises(TypeError, match="function"):
        EmbeddingGuidance(den, None, torch.ones(2), 1.0)
    with pytest.raises(ValueError, match="2 targets for a batch of 3"):
        EmbeddingGuidance(den, lambda x0: x0, torch.ones(2, 2), 1.0)(torch.ones(3, 2, dtype=torch.float64), 1.0)

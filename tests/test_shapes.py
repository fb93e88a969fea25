"""The captioned shapes dataset and its text-to-image faithfulness judge."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from difflab.data import shapes as S
from difflab.metrics import shapes_judge as J

N_GEOMETRY = 300  # scenes whose geometry rules are checked
N_JUDGED = 300  # scenes judged per image size


@pytest.fixture(scope="module")
def scenes():
    return [S.make_scene(S.EVAL_SEED, i) for i in range(N_GEOMETRY)]


def _degrade(images: np.ndarray, blur: float, noise: float, seed: int = 0) -> np.ndarray:
    """What a slightly soft and grainy generator might produce."""
    from scipy import ndimage

    x = ndimage.gaussian_filter(images.astype(float), (0, blur, blur, 0))
    x += noise * np.random.default_rng(seed).standard_normal(x.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ determinism


def test_scene_depends_on_seed_and_index_only():
    assert S.make_scene(3, 17) == S.make_scene(3, 17)
    assert S.make_scene(3, 17) != S.make_scene(4, 17)
    images, scenes = S.render_batch(6, seed=3, size=32, start=5)
    for k in range(6):
        assert scenes[k] == S.make_scene(3, 5 + k)
        np.testing.assert_array_equal(images[k], S.render(S.make_scene(3, 5 + k), 32))
    whole = S.shapes_batch(6, seed=3, size=32, start=5)
    halves = [S.shapes_batch(3, seed=3, size=32, start=s) for s in (5, 8)]
    assert torch.equal(whole.images, torch.cat([h.images for h in halves]))
    assert whole.captions == halves[0].captions + halves[1].captions
    stream = iter(S.ShapesStream(seed=3, size=32, batch_size=2, start=5))
    assert torch.equal(torch.cat([next(stream).images for _ in range(3)]), whole.images)
    assert S.ShapesStream(seed=3).scene(9) == S.make_scene(3, 9)


def test_tensor_batch_is_model_ready():
    batch = S.shapes_batch(5, size=64)
    x = batch.images
    assert x.shape == (5, 3, 64, 64) and x.dtype == torch.float32 and x.is_contiguous()
    assert x.min() >= -1 and x.max() <= 1
    pixels = ((x + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(pixels, S.render_batch(5, size=64)[0])
    assert batch.captions == [s.caption for s in batch.scenes]


def test_prompts_are_seeded_and_of_their_kind():
    assert S.eval_prompts(4, "pair") == S.eval_prompts(4, "pair")
    assert S.sample_prompt(7) == S.sample_prompt(np.random.default_rng(7))
    for kind, n in (("single", 1), ("pair", 2), ("triple", 3)):
        for text, attrs in S.eval_prompts(10, kind):
            assert len(attrs.objects) == n and S.parse_prompt(text) == attrs
            assert (attrs.position is not None) == (n == 1) and (attrs.relation is not None) == (n > 1)
    with pytest.raises(ValueError, match="kind"):
        S.sample_prompt(0, "quad")


# --------------------------------------------------------------- the vocabulary


def test_vocabulary_is_covered(scenes):
    objects = [o for s in scenes for o in s.objects]
    assert {o.colour for o in objects} == set(S.COLOURS)
    assert {o.shape for o in objects} == set(S.SHAPES)
    assert {o.size for o in objects} == set(S.SIZES)
    assert {s.background for s in scenes} == set(S.BACKGROUNDS)
    assert {s.position for s in scenes} - {None} == set(S.POSITIONS)
    assert {s.relation for s in scenes} - {None} == set(S.RELATIONS)
    assert {len(s.objects) for s in scenes} == {1, 2, 3}
    stated = [s.stated for s in scenes]
    assert any(a.background for a in stated) and any(a.background is None for a in stated)
    assert any(t.size for a in stated for t in a.objects) and any(t.size is None for a in stated for t in a.objects)


def test_palette_is_saturated_and_apart():
    rgb = np.array(list(S.COLOURS.values()), float)
    chroma = rgb.max(1) - rgb.min(1)
    assert chroma.min() >= 140  # far from every achromatic background
    apart = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1) + 1e3 * np.eye(len(rgb))
    assert apart.min() >= 95


# ------------------------------------------------------------------- rendering


def test_edges_are_anti_aliased_with_exact_coverage():
    scene = next(s for s in (S.make_scene(0, i) for i in range(50)) if len(s.objects) == 1)
    obj, size = scene.objects[0], 64
    image = S.render(scene, size).astype(float)
    bg, colour = np.array(S.BACKGROUNDS[scene.background]), np.array(S.COLOURS[obj.colour])
    k = int(np.argmax(np.abs(colour - bg)))
    f = (image[..., k] - bg[k]) / (colour[k] - bg[k])  # every pixel blends bg and colour
    np.testing.assert_allclose(image, bg + f[..., None] * (colour - bg), atol=0.6)
    assert ((f > 0.05) & (f < 0.95)).sum() >= 10  # intermediate values along the edges
    area = {"circle": math.pi / 4, "square": 1.0, "triangle": math.sqrt(3) / 4}[obj.shape] * (obj.extent * size) ** 2
    assert abs(S.coverage(obj, size, supersample=16).sum() / area - 1) < 0.01
    assert abs(f.sum() / area - 1) < 0.02


# -------------------------------------------------------------------- captions


def _consistent(stated: S.Attributes, truth: S.Attributes) -> bool:
    """Everything ``stated`` says is true of ``truth``."""
    stated, truth = stated.canonical(), truth.canonical()
    same_objects = len(stated.objects) == len(truth.objects) and all(
        (s.shape, s.colour) == (t.shape, t.colour) and s.size in (None, t.size)
        for s, t in zip(stated.objects, truth.objects))
    return same_objects and (stated.position, stated.relation) == (truth.position, truth.relation) \
        and stated.background in (None, truth.background)


def test_every_phrasing_parses_back(scenes):
    for scene in scenes[:60]:
        captions = S.all_captions(scene)
        assert (scene.caption, scene.stated) in captions
        assert len({text for text, _ in captions}) == len(captions)
        for text, stated in captions:
            assert S.parse_prompt(text) == stated, text
            assert _consistent(stated, scene.attributes()), text


def test_parser_examples_and_errors():
    red, blue = S.Thing("circle", "red"), S.Thing("square", "blue", "small")
    assert S.parse_prompt("A red circle at the left of a black background") == \
        S.Attributes((red,), "left", None, "black")
    assert S.parse_prompt("red circle, centre") == S.Attributes((red,), "center")
    assert S.parse_prompt("a red circle to the left of a small blue square on grey") == \
        S.Attributes((red, blue), None, "left of", "gray")
    assert S.describe(S.Attributes((S.Thing("circle", "orange", "large"),), "top"), "{A} {where}") == \
        "a large orange circle at the top"
    with pytest.raises(ValueError, match="object"):
        S.parse_prompt("a pink hexagon")


# -------------------------------------------------------------------- geometry


def test_geometry_rules_hold(scenes):
    for scene in scenes:
        objs = scene.objects
        for o in objs:
            x0, y0, x1, y1 = o.bbox()
            assert min(x0, y0) >= S.MARGIN - 1e-9 and max(x1, y1) <= 1 - S.MARGIN + 1e-9
            lo, hi = S.SIZES[o.size]
            assert lo <= o.extent <= hi
        assert all(S.apart(a, b) for i, a in enumerate(objs) for b in objs[i + 1:])
        if len(objs) == 1:
            o = objs[0]
            assert S.position_of(o.cx, o.cy) == scene.position
            thirds = np.array([1 / 3, 2 / 3])
            assert np.abs(thirds - o.cx).min() >= S.CELL_MARGIN - 1e-9
            assert np.abs(thirds - o.cy).min() >= S.CELL_MARGIN - 1e-9
        else:
            assert S.relation_of((objs[0].cx, objs[0].cy), (objs[1].cx, objs[1].cy)) == scene.relation


@pytest.mark.parametrize("size", [32, 64])
def test_rendered_objects_never_share_a_pixel(scenes, size):
    for scene in scenes[:100]:
        covers = [S.coverage(o, size) > 0 for o in scene.objects]
        assert all(not (a & b).any() for i, a in enumerate(covers) for b in covers[i + 1:])


def test_relation_and_position_definitions():
    assert S.relation_of((0.2, 0.5), (0.6, 0.6)) == "left of"
    assert S.relation_of((0.6, 0.6), (0.2, 0.5)) == "right of"
    assert S.relation_of((0.5, 0.2), (0.55, 0.8)) == "above"
    assert S.relation_of((0.5, 0.8), (0.55, 0.2)) == "below"
    assert S.relation_of((0.2, 0.2), (0.6, 0.6)) is None  # diagonal: neither
    assert S.relation_of((0.4, 0.5), (0.55, 0.5)) is None  # too close
    assert [S.position_of(x, y) for x, y in [(0.1, 0.5), (0.9, 0.5), (0.5, 0.1), (0.5, 0.9), (0.5, 0.5), (0.1, 0.1)]] \
        == ["left", "right", "top", "bottom", "center", None]


# ----------------------------------------------------------------------- judge


@pytest.mark.parametrize("size", [32, 64])
def test_judge_passes_rendered_images(size):
    """Every attribute stated (sizes, background, position / relation) on eval scenes."""
    images, scenes = S.render_batch(N_JUDGED, seed=S.EVAL_SEED, size=size)
    summary = J.judge_batch(images, [s.attributes() for s in scenes])
    assert summary["n"] == N_JUDGED
    assert all(acc >= 0.99 for key, acc in summary.items() if key != "n"), summary
    assert {"count", "colour", "shape", "size", "position", "relation", "background", "all"} <= set(summary)


def test_judge_tolerates_blur_and_noise():
    images, scenes = S.render_batch(100, seed=S.EVAL_SEED, size=64, start=1000)
    summary = J.judge_batch(_degrade(images, blur=1.0, noise=10), [s.attributes() for s in scenes])
    assert summary["all"] >= 0.97, summary


def _other(options, *taken):
    return next(o for o in options if o not in taken)


def _wrong_prompts(scene: S.Scene) -> dict[str, S.Attributes]:
    """One false prompt per check: each changes one attribute of the truth."""
    truth = scene.attributes()
    first, *rest = truth.objects
    wrong = {  # the multiset of colours (shapes, sizes) changes: no assignment can match them all
        "colour": replace(first, colour=_other(S.COLOURS, first.colour)),
        "shape": replace(first, shape=_other(S.SHAPES, first.shape)),
        "size": replace(first, size=_other(S.SIZES, first.size)),
    }
    prompts = {check: replace(truth, objects=(thing, *rest)) for check, thing in wrong.items()}
    prompts["background"] = replace(truth, background=_other(S.BACKGROUNDS, truth.background))
    prompts["count"] = replace(truth, objects=truth.objects + (first,)) if len(rest) < 2 else \
        replace(truth, objects=truth.objects[:2])
    if truth.relation is not None:
        if len(set(truth.objects)) == len(truth.objects):  # with twins, "A right of B" may be true too
            prompts["relation"] = replace(truth, relation=S.INVERSE[truth.relation])
    else:
        prompts["position"] = replace(truth, position=_other(S.POSITIONS, truth.position))
    return prompts


def test_judge_rejects_wrong_prompts():
    images, scenes = S.render_batch(40, seed=S.EVAL_SEED, size=64, start=2000)
    for image, scene in zip(images, scenes):
        assert J.judge(image, scene.attributes())["all"]
        for check, prompt in _wrong_prompts(scene).items():
            verdict = J.judge(image, prompt)
            assert verdict[check] is False and verdict["all"] is False, (scene.caption, check, verdict)


def test_judge_binds_attributes_to_objects():
    """Swapping the colours of two different shapes is a colour error, not a pass."""
    red_circle, blue_square = S.Thing("circle", "red"), S.Thing("square", "blue")
    scene = S.Scene("white", (S.Obj("circle", "red", "large", 0.25, 0.5, 0.32),
                              S.Obj("square", "blue", "large", 0.75, 0.5, 0.32)), None, "left of", "", None)
    image = S.render(scene, 64)
    assert J.judge(image, "a red circle to the left of a blue square")["all"]
    assert J.judge(image, S.Attributes((blue_square, red_circle), None, "right of"))["all"]
    swapped = J.judge(image, "a blue circle to the left of a red square")
    assert swapped["colour"] is False and swapped["shape"] and swapped["relation"] and not swapped["all"]
    assert J.judge(image, "a red circle above a blue square")["relation"] is False


def test_judge_inputs():
    images, scenes = S.render_batch(3, size=32)
    tensors = S.to_tensor(images)
    prompts = [s.caption for s in scenes]
    assert [J.judge(t, p) for t, p in zip(tensors, prompts)] == [J.judge(i, p) for i, p in zip(images, prompts)]
    assert J.judge_batch(tensors, prompts) == J.judge_batch(images, prompts)
    blank = np.full((32, 32, 3), 128, np.uint8)
    assert J.judge(blank, "a red circle") == {"count": False, "colour": False, "shape": False, "all": False}
    with pytest.raises(ValueError, match="uint8"):
        J.judge(images[0].astype(float), prompts[0])
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        J.judge(tensors, prompts[0])
    with pytest.raises(ValueError, match="one prompt per image"):
        J.judge_batch(images, prompts[:2])

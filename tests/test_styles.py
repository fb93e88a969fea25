"""Rendering styles of the shapes world (difflab.data.shapes.styles), styled streams and
captions, and the style judge (difflab.metrics.style_judge) with the content judge reading
every style."""

import dataclasses
import math

import numpy as np
import pytest

import difflab.data.shapes as S
from difflab.data.shapes import styles as ST
from difflab.data.shapes.coverage import coverage
from difflab.metrics.shapes_judge import detect, judge
from difflab.metrics.style_judge import judge_style, judge_styles


def _styled(scene, style):
    return dataclasses.replace(scene, style=style)


def _degrade(img, rng, blur=0.5, noise=4.0):
    from scipy import ndimage

    x = ndimage.gaussian_filter(img.astype(float), (blur, blur, 0)) + rng.normal(0, noise, img.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def test_flat_is_the_original_renderer():
    """Flat rendering is background + coverage * (colour - background), object by object."""
    for i in range(10):
        scene = S.make_scene(0, i)
        image = np.empty((64, 64, 3))
        image[:] = S.BACKGROUNDS[scene.background]
        for obj in scene.objects:
            image += coverage(obj, 64)[..., None] * (np.asarray(S.COLOURS[obj.colour], float) - image)
        assert np.array_equal(S.render(scene, 64), np.rint(image).astype(np.uint8))


def _mass(image, scene):
    """Sum over pixels of the opponent colour (zero on grays, so a tint carries 1 - TINT of
    its colour) along the one object's, in pixels of full colour."""
    from difflab.metrics.shapes_pixels import opponent

    c = opponent(np.asarray(S.COLOURS[scene.objects[0].colour], float))
    return float((opponent(image) @ c).sum() / (c @ c))


def test_styles_paint_the_areas_their_definitions_give():
    obj = S.Obj("circle", "blue", "large", 0.5, 0.5, 0.36)
    scene = S.Scene("black", (obj,), "center", None, "", S.Attributes((obj.thing,)))
    size, area = 128, math.pi * 0.18**2 * 128**2
    paint = {s: ST.paint(_styled(scene, s), size) for s in ("flat", "outline", "pixel")}
    assert _mass(paint["flat"], scene) == pytest.approx(area, rel=0.005)
    assert _mass(paint["pixel"], scene) == pytest.approx(_mass(paint["flat"], scene), rel=1e-9)  # block means keep it
    w = ST.outline_width(obj)
    assert _mass(paint["outline"], scene) == pytest.approx(math.pi * (0.18**2 - (0.18 - w) ** 2) * size**2, rel=0.01)
    tint_mass = 1 - ST.TINT  # a tint pixel carries 1 - TINT of the colour
    dot_share = math.pi * ST.DOT_RADIUS**2 / ST.DOT_SPACING**2
    # a square of 6 x 6 lattice cells: exactly dot_share of it is dots
    square = S.Obj("square", "blue", "large", 0.5, 0.5, 6 * ST.DOT_SPACING)
    scene = S.Scene("black", (square,), "center", None, "", S.Attributes((square.thing,)))
    area = (6 * ST.DOT_SPACING * size) ** 2
    assert _mass(ST.paint(_styled(scene, "striped"), size), scene) == pytest.approx(area * (0.5 + 0.5 * tint_mass), rel=0.02)
    assert _mass(ST.paint(_styled(scene, "dotted"), size), scene) == \
        pytest.approx(area * (dot_share + (1 - dot_share) * tint_mass), rel=0.01)


def test_outline_stroke_has_one_width_on_every_side():
    for shape in S.SHAPES:
        obj = S.Obj(shape, "red", "large", 0.5, 0.55, 0.34)
        inner = ST.inset(obj, 0.03)
        assert ST.inradius(obj) - ST.inradius(inner) == pytest.approx(0.03)
        assert (inner.cx, inner.cy) == (obj.cx, obj.cy)
    small_triangle = S.Obj("triangle", "red", "small", 0.5, 0.5, 0.18)
    assert ST.outline_width(small_triangle) == pytest.approx(ST.OUTLINE_MAX * ST.inradius(small_triangle))
    with pytest.raises(ValueError, match="leaves nothing"):
        ST.inset(small_triangle, 1.0)


def test_glow_halo_at_a_straight_edge():
    obj = S.Obj("square", "red", "large", 0.5, 0.5, 0.36)
    halo = ST._halo(obj, 256, 4)
    edge_col = round((0.5 + 0.18) * 256)  # the first pixel column right of the edge
    assert halo[128, edge_col - 1: edge_col + 1].mean() == pytest.approx(ST.GLOW_EDGE, abs=0.03)
    assert halo[128, edge_col + 40] < 0.01


def test_pixel_style_is_blocks_and_needs_a_divisible_size():
    image = S.render(_styled(S.make_scene(0, 1), "pixel"), 64)
    blocks = image.reshape(16, 4, 16, 4, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()
    with pytest.raises(ValueError, match="divisible by 16"):
        S.render(_styled(S.make_scene(0, 1), "pixel"), 40)
    with pytest.raises(ValueError, match="unknown rendering style"):
        S.render(_styled(S.make_scene(0, 1), "cubist"), 64)


def test_styled_stream_keeps_content_and_names_styles():
    seen = set()
    for i in range(300):
        plain, styled = S.make_scene(0, i), S.make_scene(0, i, S.RENDER_STYLES)
        assert (plain.objects, plain.background, plain.position, plain.relation) == \
            (styled.objects, styled.background, styled.position, styled.relation)
        stated = S.parse_prompt(styled.caption)
        if styled.style != "flat":
            assert stated.style == styled.style == styled.stated.style, styled.caption
        if stated.style is None:  # a caption without a style word always shows a flat scene
            assert styled.style == "flat" and styled.stated.style is None
        assert (styled.caption, styled.stated) in S.all_captions(styled)
        assert all(S.parse_prompt(text).style == stated.style for text, _ in S.all_captions(styled))
        seen.add(styled.style)
    assert seen == set(S.RENDER_STYLES)
    assert S.make_scene(0, 5, ["outline"]).style == "outline"
    with pytest.raises(ValueError, match="subset of"):
        S.make_scene(0, 5, ["cubist"])
    # a style named twice is drawn twice as often: flat 1/3, glow 2/3 (binomial sd 0.015 at n = 1000)
    glow = sum(S.make_scene(0, i, ["flat", "glow", "glow"]).style == "glow" for i in range(1000)) / 1000
    assert abs(glow - 2 / 3) < 0.06


def test_style_words_parse():
    assert S.parse_prompt("a red circle on the left in outline style").style == "outline"
    assert S.parse_prompt("glowing red circle, left").style == "glow"
    assert S.parse_prompt("pixel style: a red circle above a blue square").style == "pixel"
    assert S.parse_prompt("a red circle with polka dots").style == "dotted"
    assert S.parse_prompt("a red circle on the left").style is None


def test_styled_eval_prompts_are_the_unstyled_prompts_naming_the_style():
    plain, styled = S.eval_prompts(20, "pair"), S.eval_prompts(20, "pair", style="striped")
    for (p, a), (q, b) in zip(plain, styled):
        assert dataclasses.replace(b, style=None) == a and b.style == "striped" and p in q
    with pytest.raises(ValueError, match="subset of"):
        S.eval_prompts(2, style="cubist")


#: held-out scenes for the judges' tests: the style judge's thresholds were set on scenes 0-59
JUDGE_REPORT = range(100_000, 100_040)


@pytest.mark.parametrize("size", [64, 128])
def test_style_judge_reads_rendered_styles(size):
    """At least 95 % right per style on held-out scenes, clean and under mild blur and noise; the
    scenes (:data:`JUDGE_REPORT`) are not the ones the thresholds were set on (0-59)."""
    rng = np.random.default_rng(0)
    scenes = [S.make_scene(S.EVAL_SEED, i) for i in JUDGE_REPORT]
    for degrade in (False, True):
        images, styles = [], []
        for scene in scenes:
            for style in S.RENDER_STYLES:
                image = S.render(_styled(scene, style), size)
                images.append(_degrade(image, rng) if degrade else image)
                styles.append(style)
        report = judge_styles(images, styles)
        assert report["n"] == 40 * len(S.RENDER_STYLES)
        assert all(report[f"style_{s}"] >= 0.95 for s in S.RENDER_STYLES), (degrade, report)


def test_content_judge_reads_every_style():
    """Every content check on rendered held-out scenes in each style."""
    scenes = [S.make_scene(S.EVAL_SEED, i) for i in JUDGE_REPORT]
    for style in S.RENDER_STYLES:
        verdicts = [judge(S.render(_styled(s, style), 64), _styled(s, style).attributes()) for s in scenes]
        for key in ("count", "colour", "size", "position", "relation", "background", "style", "shape"):
            assert np.mean([v[key] for v in verdicts if key in v]) >= 0.95, (style, key)


@pytest.mark.parametrize("contrast", [0.8, 0.9, 1.1])
def test_pixel_shapes_do_not_hang_on_which_faint_blocks_pass_the_chroma_threshold(contrast):
    """A small object in the pixel style is a few blocks wide, and its shape is in its faint
    edge blocks. Scaling the objects' contrast (what a decoder's small errors do) moves those
    blocks across CHROMA_MIN; the shape read must not follow (a whole block counts, or none)."""
    right = []
    for i in JUDGE_REPORT:
        scene = _styled(S.make_scene(S.EVAL_SEED, i), "pixel")
        image = S.render(scene, 64).astype(float)
        bg = np.array(S.BACKGROUNDS[scene.background], float)
        scaled = np.clip(np.rint(bg + contrast * (image - bg)), 0, 255).astype(np.uint8)
        right.append(judge(scaled, scene.attributes())["shape"])
    assert np.mean(right) >= 0.95


def test_judge_reports_style_and_content_when_a_style_is_stated():
    scene = S.make_scene(S.EVAL_SEED, 0)
    image = S.render(_styled(scene, "outline"), 64)
    asked = dataclasses.replace(scene.attributes(), style="dotted")
    verdict = judge(image, asked)
    assert verdict["content"] and not verdict["style"] and not verdict["all"]
    assert "style" not in judge(image, dataclasses.replace(asked, style=None))
    assert judge_style(image) == "outline"
    with pytest.raises(ValueError, match="one style per image"):
        judge_styles([image], [])


# --------------------------------------------------------------- generation in a style


def test_style_guidance_is_the_sum_of_its_directions():
    """D = D(null) + s (D(c) - D(null)) + s_style (D(c+style) - D(c)), in one batch of 3N; s_style = s
    is ordinary guidance on the styled prompt, s_style = 0 the content's."""
    import torch

    from difflab.guidance import STYLED, ClassifierFreeGuidance, StyleGuidance
    from difflab.schedules import DiscreteSchedule

    class Toy:  # D(x; sigma, c) = x * c + sigma: distinct for each condition
        schedule = DiscreteSchedule(kind="cosine", T=10)

        def __init__(self):
            self.batches = []

        def __call__(self, x, sigma, context):
            self.batches.append(len(x))
            return x * context[:, :1] + sigma.view(-1, 1).to(x.dtype)

    x, sigma = torch.randn(4, 3, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64)
    c, cs, null = torch.rand(4, 2, dtype=torch.float64), torch.rand(4, 2, dtype=torch.float64), torch.zeros(2)
    toy = Toy()
    d = lambda cond: x * cond[:, :1] + 0.7  # noqa: E731
    out = StyleGuidance(toy, 3.0, 5.0, {"context": null})(x, sigma, context=c, **{STYLED + "context": cs})
    expected = d(null.expand(4, 2)) + 3 * (d(c) - d(null.expand(4, 2))) + 5 * (d(cs) - d(c))
    torch.testing.assert_close(out, expected)
    assert toy.batches == [12]
    same = StyleGuidance(toy, 3.0, 3.0, {"context": null})(x, sigma, context=c, **{STYLED + "context": cs})
    torch.testing.assert_close(same, ClassifierFreeGuidance(toy, 3.0, {"context": null})(x, sigma, context=cs))
    content = StyleGuidance(toy, 3.0, 0.0, {"context": null})(x, sigma, context=c, **{STYLED + "context": cs})
    torch.testing.assert_close(content, ClassifierFreeGuidance(toy, 3.0, {"context": null})(x, sigma, context=c))
    with pytest.raises(ValueError, match="styled_context"):
        StyleGuidance(toy, 3.0, 1.0, {"context": null})(x, sigma, context=c)


def test_pipeline_style_and_stylize():
    import torch

    from test_text_to_image import FAST, _tiny_pipeline

    pipe = _tiny_pipeline()
    prompt = "a red circle on the left"
    styled = pipe([prompt], seed=3, output="tensor", style="outline")
    assert torch.equal(styled, pipe([prompt + " in outline style"], seed=3, output="tensor"))
    torch.testing.assert_close(pipe([prompt], seed=3, output="tensor", style="outline", stylize=1.0), styled)
    torch.testing.assert_close(pipe([prompt], seed=3, output="tensor", style="outline", stylize=0.0),
                               pipe([prompt], seed=3, output="tensor"), atol=1e-5, rtol=0)
    strong, info = pipe([prompt], seed=3, output="tensor", style="outline", stylize=2.0, return_info=True)
    assert not torch.allclose(strong, styled) and info.settings["stylize"] == 2.0 and info.settings["style"] == "outline"
    assert info.nfe == FAST["steps"]
    with pytest.raises(ValueError, match="name one with style"):
        pipe([prompt], stylize=2.0)
    with pytest.raises(ValueError, match="stylize must be"):
        pipe([prompt], style="outline", stylize=-1.0)
    with pytest.raises(ValueError, match="style must be"):
        pipe([prompt], style=" ")


def test_styled_training_caches_and_cli(tmp_path, capsys):
    import json

    import torch

    from difflab.cli import main
    from difflab.io.folders import save_autoencoder
    from difflab.nets.autoencoder import AutoencoderKL
    from difflab.pipelines.text_to_image import TextToImagePipeline

    torch.manual_seed(0)
    save_autoencoder(tmp_path / "ae", AutoencoderKL(channels=8, channel_mult=(1, 1, 1), groups=4, scale_factor=1.5),
                     {"data": {"name": "shapes", "shape": [3, 32, 32]}})
    common = ["train", "t2i", "--autoencoder", str(tmp_path / "ae"), "--text-encoder", "hashing", "--scenes", "12",
              "--batch-size", "4", "--channels", "8", "--quiet", "--device", "cpu", "--steps", "1"]
    assert main([*common, "--out", str(tmp_path / "t"), "--styles", "flat,outline"]) == 0
    assert TextToImagePipeline.load(tmp_path / "t").config["training"]["styles"] == ["flat", "outline"]
    from safetensors import safe_open

    with safe_open(str(tmp_path / "t" / "captions.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["key"])["styles"] == ["flat", "outline"]
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "u"), "--styles", "flat,cubist"]) == 2
    assert "cubist" in capsys.readouterr().err and not (tmp_path / "u").exists()
    # an autoencoder fine-tune starts from the given folder's weights, on styled scenes
    assert main(["train", "autoencoder", "--size", "32", "--styles", "pixel", "--init", str(tmp_path / "ae"),
                 "--steps", "1", "--batch-size", "2", "--lr", "1e-12", "--out", str(tmp_path / "ae2"), "--quiet"]) == 0
    config = json.loads((tmp_path / "ae2" / "config.json").read_text())
    assert config["training"]["init"] == str(tmp_path / "ae") and config["data"]["styles"] == ["pixel"]
    assert config["net"]["channels"] == 8
    # the decoder alone: the latent scale is the init's; without --init, a one-line error and no folder
    assert main(["train", "autoencoder", "--size", "32", "--styles", "glow", "--init", str(tmp_path / "ae"),
                 "--decoder-only", "--steps", "1", "--batch-size", "2", "--out", str(tmp_path / "ae3"), "--quiet"]) == 0
    config3 = json.loads((tmp_path / "ae3" / "config.json").read_text())
    assert config3["training"]["decoder_only"] and config3["net"]["scale_factor"] == json.loads(
        (tmp_path / "ae" / "config.json").read_text())["net"]["scale_factor"]
    capsys.readouterr()
    assert main(["train", "autoencoder", "--size", "32", "--decoder-only", "--steps", "1",
                 "--out", str(tmp_path / "ae4"), "--quiet"]) == 2
    assert "--init" in capsys.readouterr().err and not (tmp_path / "ae4").exists()


def test_eval_t2i_reports_style_and_content_per_style(tmp_path):
    import json

    from difflab.cli import main
    from test_text_to_image import _tiny_pipeline

    folder = _tiny_pipeline().save(tmp_path / "pipe")
    out = tmp_path / "eval.json"
    assert main(["eval-t2i", "--model", str(folder), "--n", "2", "--guidance", "3", "--steps", "2",
                 "--styles", "outline,pixel", "--out", str(out), "--quiet"]) == 0
    def strict(constant):
        raise AssertionError(f"{constant} is not JSON")

    row = json.loads(out.read_text(), parse_constant=strict)["results"]["3"]
    assert set(row["styles"]) == {"outline", "pixel"} and 0 <= row["single"]["flat"] <= 1
    for per in row["styles"].values():
        for kind in ("single", "pair"):
            assert per[kind]["n"] == 2 and {"style", "content", "all"} <= set(per[kind])


def test_aspect_frames():
    from difflab.pipelines.text_to_image import aspect_size
    from test_text_to_image import _tiny_pipeline

    assert aspect_size("3:2", 64, 16) == (64, 96)
    assert aspect_size("16:9", 64, 16) == (64, 112)
    assert aspect_size("1:2", 64, 16) == (128, 64)
    assert aspect_size("1:1", 64, 16) == (64, 64)
    for bad in ("0:1", "5:1", "wide", "3:2:1", "-3:2"):
        with pytest.raises(ValueError, match="aspect must be"):
            aspect_size(bad, 64, 16)
    pipe = _tiny_pipeline()
    images, info = pipe(["a red circle"], aspect="3:2", return_info=True)
    assert images.shape == (1, 32, 48, 3) and info.settings["aspect"] == "3:2"
    assert pipe(["a red circle"], aspect="2:3").shape == (1, 48, 32, 3)


def test_generate_cli_style_and_aspect(tmp_path, capsys):
    from PIL import Image

    from difflab.cli import main
    from test_text_to_image import _tiny_pipeline

    folder = _tiny_pipeline().save(tmp_path / "pipe")
    assert main(["generate", "a red circle", "--model", str(folder), "-n", "1", "--steps", "2", "--style", "glow",
                 "--stylize", "2", "--aspect", "3:2", "--out", str(tmp_path / "out")]) == 0
    (png,) = (tmp_path / "out").glob("*.png")
    assert Image.open(png).size == (48, 32)
    capsys.readouterr()
    assert main(["generate", "a red circle", "--model", str(folder), "--stylize", "2", "--out", str(tmp_path / "o2")]) == 2
    assert "style" in capsys.readouterr().err and not (tmp_path / "o2").exists()
    assert main(["generate", "a red circle", "--model", str(folder), "--aspect", "9:1", "--out", str(tmp_path / "o3")]) == 2
    assert "aspect" in capsys.readouterr().err
    assert main(["generate", "a red circle", "--model", str(folder), "--style-sigma", "1", "--out", str(tmp_path / "o4")]) == 2
    assert "--style" in capsys.readouterr().err and not (tmp_path / "o4").exists()
    with pytest.raises(SystemExit):
        main(["generate", "a red circle", "--model", str(folder), "--style", "glow", "--style-sigma", "-1",
              "--out", str(tmp_path / "o5")])
    assert "noise level" in capsys.readouterr().err and not (tmp_path / "o5").exists()
    assert main(["generate", "a red circle", "--model", str(folder), "-n", "1", "--steps", "2", "--style", "glow",
                 "--style-sigma", "inf", "--out", str(tmp_path / "o6.png")]) == 0
    # a style word the model's captions never named (and no learned style of that name): a note, then the words
    import json

    config = json.loads((folder / "pipeline.json").read_text())
    config.update(data={"name": "shapes", "range": [-1.0, 1.0]}, training={"styles": ["flat", "glow"]})
    (folder / "pipeline.json").write_text(json.dumps(config))
    for word, noted in (("cubist", True), ("glow", False)):
        assert main(["generate", "a red circle", "--model", str(folder), "-n", "1", "--steps", "2", "--style", word,
                     "--out", str(tmp_path / f"o-{word}")]) == 0
        err = capsys.readouterr().err
        assert ("'cubist' is neither a style this model was trained on (flat, glow)" in err) == noted, err


def test_shared_attention_with_the_target_itself_changes_nothing():
    """A reference identical to the image being denoised (same noisy latent, same prompt):
    AdaIN is then the identity and attending to [own tokens; a copy] with weight 1 is
    attending to one's own, so the output is the plain denoiser's."""
    import torch

    from difflab.pipelines.style_reference import StyleReference
    from test_text_to_image import _tiny_pipeline

    pipe = _tiny_pipeline()
    cond = pipe.encode_prompts(["a red circle"])
    z = torch.randn(1, *pipe.latent_shape, generator=torch.Generator().manual_seed(0))
    reference = StyleReference(pipe.denoiser, z, {k: v[0] for k, v in cond.items()}, weight=1.0, seed=3)
    sigma = torch.tensor([2.0], dtype=torch.float64)
    x = z + 2.0 * reference.noise
    with torch.no_grad():
        torch.testing.assert_close(reference(x, sigma, **cond), pipe.denoiser(x, sigma, **cond), atol=2e-4, rtol=1e-4)
        stronger = StyleReference(pipe.denoiser, z, {k: v[0] for k, v in cond.items()}, weight=4.0, seed=3)
        other = torch.randn(1, *pipe.latent_shape, generator=torch.Generator().manual_seed(1))
        assert not torch.allclose(stronger(other, sigma, **cond), pipe.denoiser(other, sigma, **cond), atol=1e-3)
    # the layers are back to plain self-attention afterwards
    assert all(getattr(m, "share", None) is None for m in pipe.denoiser.net.modules())
    for weight in (0.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="weight must be a finite number > 0"):
            StyleReference(pipe.denoiser, z, {}, weight=weight)


def test_style_reference_in_the_pipeline_and_cli(tmp_path, capsys):
    import torch
    from PIL import Image

    from difflab.cli import main
    from test_text_to_image import _tiny_pipeline

    pipe = _tiny_pipeline()
    ref = tmp_path / "ref.png"
    Image.fromarray(S.render(_styled(S.make_scene(0, 2), "striped"), 32)).save(ref)
    plain = pipe(["a red circle"], seed=1, output="tensor")
    borrowed, info = pipe(["a red circle"], seed=1, output="tensor", style_ref=str(ref), style_weight=2.0,
                          return_info=True)
    assert not torch.allclose(plain, borrowed) and info.settings["style_weight"] == 2.0
    folder = pipe.save(tmp_path / "pipe")
    assert main(["generate", "a red circle", "--model", str(folder), "-n", "1", "--steps", "2", "--style-ref",
                 str(ref), "--out", str(tmp_path / "out")]) == 0
    assert main(["generate", "a red circle", "--model", str(folder), "--style-ref", str(tmp_path / "none.png"),
                 "--out", str(tmp_path / "o2")]) == 2
    assert "none.png" in capsys.readouterr().err and not (tmp_path / "o2").exists()
    # the reference's frame is square: another aspect is a one-line refusal, 1:1 is the square
    assert main(["generate", "a red circle", "--model", str(folder), "--style-ref", str(ref), "--aspect", "3:2",
                 "--out", str(tmp_path / "o3")]) == 2
    err = capsys.readouterr().err
    assert "does not combine with aspect '3:2'" in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "o3").glob("*.png")) if (tmp_path / "o3").exists() else True
    assert pipe(["a red circle"], seed=1, steps=2, style_ref=str(ref), aspect="1:1").shape == (1, 32, 32, 3)


def test_negative_prompt_replaces_the_null_branch():
    """D(neg) + s (D(c) - D(neg)); refused where guidance cannot steer away from it (s <= 1)."""
    import torch

    from test_text_to_image import _tiny_pipeline

    pipe = _tiny_pipeline()
    model, cond = pipe.styled(["a red circle"], 3.0, None, None, "a blue square")
    x, sigma = torch.randn(1, *pipe.latent_shape), torch.tensor([2.0])
    with torch.no_grad():
        d_neg = pipe.denoiser(x, sigma, **pipe.encode_prompts(["a blue square"]))
        d_c = pipe.denoiser(x, sigma, **pipe.encode_prompts(["a red circle"]))
        torch.testing.assert_close(model(x, sigma, **cond), d_neg + 3.0 * (d_c - d_neg), atol=1e-5, rtol=0)
    for guidance in (1.0, 0.5):
        with pytest.raises(ValueError, match="negative prompt acts through guidance"):
            pipe(["a red circle"], steps=2, guidance=guidance, negative_prompt="a blue square")


def test_eval_t2i_with_style_reference_images(tmp_path, monkeypatch):
    """--style-refs: the unstyled prompts, each chunk of prompts with a new held-out reference
    scene drawn in the style; judged for that style and for the content."""
    import json

    from difflab.cli import main
    from difflab.evaluate import text_to_image as E
    from test_text_to_image import _tiny_pipeline

    seen = []
    original = _tiny_pipeline().__class__.__call__

    def spy(self, prompts, *a, **k):
        if "style_ref" in k:
            seen.append((len(prompts), k["style_ref"].tobytes()))
        return original(self, prompts, *a, **k)

    monkeypatch.setattr(_tiny_pipeline().__class__, "__call__", spy)
    report = E.evaluate_text_to_image(_tiny_pipeline(), n=3, guidances=(3.0,), steps=2, progress=False,
                                      style_refs=["glow"], prompts_per_reference=2)
    per = report["results"]["3"]["style_refs"]["glow"]
    assert per["single"]["n"] == 3 and {"style", "content"} <= set(per["single"])
    assert [n for n, _ in seen] == [2, 1, 2, 1] and seen[0][1] != seen[1][1]  # a new reference per chunk
    assert "style_ref" not in report["results"]["3"]["settings"]  # no image in the JSON
    monkeypatch.undo()
    folder = _tiny_pipeline().save(tmp_path / "pipe")
    out = tmp_path / "eval.json"
    assert main(["eval-t2i", "--model", str(folder), "--n", "2", "--guidance", "3", "--steps", "2", "--style-refs",
                 "glow", "--style-weight", "2", "--out", str(out), "--quiet"]) == 0
    row = json.loads(out.read_text())["results"]["3"]
    assert row["style_refs"]["glow"]["pair"]["n"] == 2 and row["settings"]["style_weight"] == 2.0
    assert row["settings"]["style_method"] == "shared"


def test_eval_t2i_stylize_names_the_style_through_the_pipeline(tmp_path, monkeypatch, capsys):
    """--stylize S: the styled rows are the unstyled prompts with style= and stylize= (what
    generate --style --stylize runs), judged for that style; refused without --styles."""
    import json

    from difflab.cli import main
    from difflab.data.shapes import eval_prompts
    from difflab.evaluate import text_to_image as E
    from test_text_to_image import _tiny_pipeline

    calls = []
    cls = _tiny_pipeline().__class__
    original = cls.__call__

    def spy(self, prompts, *a, **k):
        calls.append((list(prompts), k.get("style"), k.get("stylize")))
        return original(self, prompts, *a, **k)

    monkeypatch.setattr(cls, "__call__", spy)
    report = E.evaluate_text_to_image(_tiny_pipeline(), n=2, guidances=(3.0,), steps=2, progress=False,
                                      styles=["pixel"], stylize=2.5)
    unstyled = [p for kind in ("single", "pair") for p, _ in eval_prompts(2, kind)]
    assert [c[0] for c in calls] == [unstyled[:2], unstyled[2:]] * 2
    assert [c[1:] for c in calls] == [(None, None)] * 2 + [("pixel", 2.5)] * 2
    per = report["results"]["3"]["styles"]["pixel"]
    assert report["stylize"] == 2.5 and per["single"]["n"] == 2 and {"style", "content"} <= set(per["single"])
    assert "style" not in report["results"]["3"]["settings"]
    with pytest.raises(ValueError, match="give styles"):
        E.evaluate_text_to_image(_tiny_pipeline(), n=1, guidances=(3.0,), steps=2, progress=False, stylize=2.0)
    monkeypatch.undo()
    folder = _tiny_pipeline().save(tmp_path / "pipe")
    out = tmp_path / "eval.json"
    assert main(["eval-t2i", "--model", str(folder), "--n", "1", "--stylize", "2", "--out", str(out)]) == 2
    assert "give --styles" in capsys.readouterr().err and not out.exists()
    assert main(["eval-t2i", "--model", str(folder), "--n", "1", "--guidance", "3", "--steps", "2", "--styles",
                 "glow", "--stylize", "0", "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["stylize"] == 0.0


def test_style_guidance_acts_only_below_style_sigma():
    """style_sigma: above it the content's guidance on the content denoiser, below it the styled
    guidance, per sample; inf is every level, as None."""
    import torch

    from difflab.guidance import STYLED, ClassifierFreeGuidance, StyleGuidance
    from difflab.schedules import DiscreteSchedule

    class Toy:  # D(x; sigma, c) = x * c * k + sigma
        schedule = DiscreteSchedule(kind="cosine", T=10)

        def __init__(self, k):
            self.k = k

        def __call__(self, x, sigma, context):
            return self.k * x * context[:, :1] + sigma.view(-1, 1).to(x.dtype)

    x = torch.randn(4, 3, dtype=torch.float64)
    c, cs, null = torch.rand(4, 2, dtype=torch.float64), torch.rand(4, 2, dtype=torch.float64), torch.zeros(2)
    styled_net, base_net = Toy(1.0), Toy(2.0)
    cond = {"context": c, STYLED + "context": cs}
    for style_scale in (3.0, 5.0):
        plain = StyleGuidance(styled_net, 3.0, style_scale, {"context": null})
        late = StyleGuidance(styled_net, 3.0, style_scale, {"context": null}, style_sigma=0.5, content_denoiser=base_net)
        low, high = torch.tensor(0.5, dtype=torch.float64), torch.tensor(0.9, dtype=torch.float64)
        torch.testing.assert_close(late(x, low, **cond), plain(x, low, **cond))
        content = ClassifierFreeGuidance(base_net, 3.0, {"context": null})(x, high, context=c)
        torch.testing.assert_close(late(x, high, **cond), content)
        mixed = torch.tensor([0.2, 0.9, 0.5, 2.0], dtype=torch.float64)
        expected = torch.where(torch.tensor([[True], [False], [True], [False]]), plain(x, mixed, **cond),
                               ClassifierFreeGuidance(base_net, 3.0, {"context": null})(x, mixed, context=c))
        torch.testing.assert_close(late(x, mixed, **cond), expected)
        every = StyleGuidance(styled_net, 3.0, style_scale, {"context": null}, style_sigma=float("inf"),
                              content_denoiser=base_net)
        assert every.style_sigma is None
        torch.testing.assert_close(every(x, high, **cond), plain(x, high, **cond))
    with pytest.raises(ValueError, match="style_sigma"):
        StyleGuidance(styled_net, 3.0, 3.0, {"context": null}, style_sigma=-1.0)


def test_pipeline_style_sigma():
    """A trained style word acts at every level unless style_sigma is given; style_sigma 0 is the
    content alone, the unstyled prompt's image."""
    import torch

    from test_text_to_image import _tiny_pipeline

    pipe = _tiny_pipeline()
    prompt = "a red circle on the left"
    styled, info = pipe([prompt], seed=3, output="tensor", style="outline", return_info=True)
    assert "style_sigma" not in info.settings
    torch.testing.assert_close(pipe([prompt], seed=3, output="tensor", style="outline", style_sigma=float("inf")),
                               styled)
    torch.testing.assert_close(pipe([prompt], seed=3, output="tensor", style="outline", style_sigma=0.0),
                               pipe([prompt], seed=3, output="tensor"), atol=1e-5, rtol=0)
    half, info = pipe([prompt], seed=3, output="tensor", style="outline", style_sigma=1.0, return_info=True)
    assert info.settings["style_sigma"] == 1.0 and not torch.allclose(half, styled)
    with pytest.raises(ValueError, match="name one with style"):
        pipe([prompt], style_sigma=1.0)
    with pytest.raises(ValueError, match="style_sigma must be"):
        pipe([prompt], style="outline", style_sigma=-1.0)


def _outline_scene(objects, background="black"):
    attrs = S.Attributes(tuple(o.thing for o in objects), None, None, background, "outline")
    return S.Scene(background, tuple(objects), None, None, "", attrs, "outline")


def test_an_outline_whose_hue_drifts_is_one_object_and_touching_outlines_two():
    """A decoder's stroke drifts between neighbouring hues (orange into red along the ring); a
    stroke around one hole is one object, read in the hue of most of it. Two outlines that
    touch enclose two holes and are still two objects, split by colour."""
    ring = _outline_scene([S.Obj("circle", "orange", "large", 0.5, 0.5, 0.34)])
    image = S.render(ring, 64).astype(float)
    bg = np.array(S.BACKGROUNDS["black"], float)
    orange, red = (np.array(S.COLOURS[c], float) for c in ("orange", "red"))
    alpha = np.linalg.norm(image - bg, axis=-1) / np.linalg.norm(orange - bg)
    drift = bg + alpha[..., None] * (red - bg)  # the same stroke in red
    image[:, 35:] = drift[:, 35:]  # the right part of the ring turns red
    verdict = judge(np.clip(np.rint(image), 0, 255).astype(np.uint8), ring.attributes())
    assert verdict["count"] and verdict["shape"] and verdict["colour"], verdict
    pair = _outline_scene([S.Obj("square", "green", "large", 0.33, 0.5, 0.34),
                           S.Obj("square", "blue", "large", 0.67, 0.5, 0.34)])
    _, found = detect(S.render(pair, 64), style="outline")
    assert sorted(d.colour for d in found) == ["blue", "green"] and all(d.shape == "square" for d in found)

"""``difflab inpaint``, ``difflab img2img`` and ``difflab eval-inpaint`` on a tiny digits model."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from difflab.cli import main


@pytest.fixture(scope="module")
def model(digits_model):
    return digits_model


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 255
    Image.fromarray(image).save(tmp_path / "in.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "small.png")
    return tmp_path, image, mask


def test_inpaint_keeps_known_pixels_to_the_bit(model, files, capsys):
    d, image, mask = files
    assert main(["inpaint", "--model", str(model), "--image", str(d / "in.png"), "--mask", str(d / "mask.png"),
                 "--out", str(d / "out.png"), "--steps", "4", "--resample", "2", "--jump-length", "2", "-n", "2",
                 "--label", "3"]) == 0
    for i in range(2):
        out = np.asarray(Image.open(d / f"out-{i}.png"))
        assert out.shape == image.shape
        assert np.array_equal(out[mask == 0], image[mask == 0])
    assert "nfe" in capsys.readouterr().out


def test_edit_errors_are_one_line(model, files, capsys):
    d, _, _ = files
    base = ["--model", str(model), "--image", str(d / "in.png"), "--out", str(d / "o.png"), "--steps", "2"]
    assert main(["inpaint", *base, "--mask", str(d / "small.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mask" in err and "8" in err
    assert main(["inpaint", *base, "--mask", str(d / "missing.png")]) == 2
    with pytest.raises(SystemExit):  # refused by the parser
        main(["img2img", *base, "--strength", "1.5"])
    assert "strength" in capsys.readouterr().err
    assert main(["img2img", *base[:4], "--out", str(d / "o.jpg")]) == 2
    assert not (d / "o.png").exists() and not (d / "o.jpg").exists()


def test_img2img_strength_zero_returns_input(model, files, capsys):
    d, image, _ = files
    args = ["img2img", "--model", str(model), "--image", str(d / "in.png"), "--steps", "10"]
    assert main([*args, "--strength", "0", "--out", str(d / "same.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(d / "same.png")), image)
    assert main([*args, "--strength", "0.5", "--out", str(d / "half.png")]) == 0
    assert "steps 5" in capsys.readouterr().out


@pytest.mark.slow
def test_eval_inpaint(model, tmp_path, capsys):
    assert main(["eval-inpaint", str(model), "-n", "6", "--steps", "3", "--resample", "2", "--jump-length", "1",
                 "--picture", str(tmp_path / "p.png"), "--out", str(tmp_path / "r.json"), "--quiet"]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["n"] == 6 and set(result["accuracy"]) == {"inpainted", "intact", "hole_left_blank"}
    assert set(result["accuracy_by_side"]) == {"left", "right"}
    assert Image.open(tmp_path / "p.png").size[0] > 6 * 8
    assert result["label"] == "infer"  # a rate over the 6 images: k / 6
    assert result["inferred_label_accuracy"] * 6 == pytest.approx(round(result["inferred_label_accuracy"] * 6))
    assert main(["eval-inpaint", str(model), "-n", "2", "--steps", "2", "--resample", "1", "--label", "null",
                 "--out", str(tmp_path / "u.json"), "--quiet"]) == 0
    assert json.loads((tmp_path / "u.json").read_text())["inferred_label_accuracy"] is None


def test_inpaint_label_auto(model, files, capsys):
    d, image, mask = files
    base = ["--model", str(model), "--image", str(d / "in.png"), "--out", str(d / "auto.png"), "--steps", "2"]
    assert main(["inpaint", *base, "--mask", str(d / "mask.png"), "--resample", "1", "--label", "auto"]) == 0
    out = capsys.readouterr().out
    assert "label inferred from the kept pixels:" in out
    assert np.array_equal(np.asarray(Image.open(d / "auto.png"))[mask == 0], image[mask == 0])
    assert main(["img2img", *base[:4], "--out", str(d / "auto2.png"), "--label", "auto"]) == 2
    assert "--mask" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["inpaint", *base, "--mask", str(d / "mask.png"), "--label", "three"])
    assert "class index or 'auto'" in capsys.readouterr().err


def test_upscale_with_the_shipped_model(tmp_path, capsys):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    assert main(["upscale", str(tmp_path / "small.png"), "--out", str(tmp_path / "big.png")]) == 0
    assert Image.open(tmp_path / "big.png").size == (64, 48)
    assert main(["upscale", str(tmp_path / "small.png"), "--scale", "2", "--out", str(tmp_path / "x.png")]) == 2
    assert "upscales by 4" in capsys.readouterr().err
    assert main(["upscale", str(tmp_path / "missing.png"), "--out", str(tmp_path / "x.png")]) == 2
    assert main(["upscale", str(tmp_path / "small.png"), "--out", str(tmp_path / "x.jpg")]) == 2
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.jpg").exists()


@pytest.mark.slow
def test_eval_inpaint_replace_is_reproducible(model):
    """The replacement method draws its known-value noise from the run's seed, not the global RNG."""
    import torch

    from difflab.evaluate import evaluate_inpainting

    kw = dict(n=3, method="replace", steps=3, sampler="ddpm", seed=4, progress=False)
    a = evaluate_inpainting(model, **kw)["images"]
    torch.manual_seed(123)  # the global RNG must not matter
    b = evaluate_inpainting(model, **kw)["images"]
    assert torch.equal(a, b)


def test_the_command_line_and_the_pipeline_give_the_same_result(model, files):
    """One seed, one result: the commands call ImagePipeline and add nothing of their own."""
    from difflab.pipelines import ImagePipeline

    d, _, _ = files
    pipe = ImagePipeline.load(model)
    assert main(["sample", str(model), "-n", "5", "--steps", "3", "--seed", "7", "--guidance", "2",
                 "--out", str(d / "s.png"), "--save-npy", str(d / "s.npy")]) == 0
    library = pipe.to_unit(pipe.sample(5, seed=7, steps=3, guidance=2.0))
    assert np.array_equal(np.load(d / "s.npy"), library.numpy())
    again = ImagePipeline.load(pipe.save(d / "copy"))  # saved and loaded: the same model
    assert again.config["data"] == pipe.config["data"] and again.num_classes == pipe.num_classes
    assert torch.equal(again.sample(5, seed=7, steps=3, guidance=2.0), pipe.sample(5, seed=7, steps=3, guidance=2.0))

    edits = {
        "inpaint": (["--mask", str(d / "mask.png"), "--steps", "4", "--resample", "2", "--jump-length", "2",
                     "--label", "5"],
                    lambda: pipe.inpaint(d / "in.png", d / "mask.png", 5, steps=4, resample=2, jump_length=2, seed=3)),
        "img2img": (["--steps", "6", "--strength", "0.5", "--label", "2"],
                    lambda: pipe.img2img(d / "in.png", 2, 0.5, steps=6, seed=3)),
    }
    for command, (options, call) in edits.items():
        assert main([command, "--model", str(model), "--image", str(d / "in.png"), "--seed", "3",
                     "--out", str(d / f"{command}.png"), *options]) == 0
        assert np.array_equal(np.asarray(Image.open(d / f"{command}.png")), call().images[0].squeeze(-1)), command

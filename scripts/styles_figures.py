#!/usr/bin/env python3
"""Draw the pictures of docs/styles.md:

- ``styles_rendered.png``: held-out scenes (rows) rendered in each of the six rendering styles
  (columns: flat, outline, striped, dotted, pixel, glow): the ground truth;
- ``styles_generated.png`` (with ``--model``): a text-to-image pipeline's images for a few
  prompts (rows) with no style word and with each style it was trained on (columns), then,
  with ``--learned FILE``, the learned style in FILE (``difflab train style``) as drawn and with the
  prompt's colours kept (``--keep-colours``), and with
  ``--style-refs S1,S2``, the unstyled prompt with a held-out rendered scene of each style S as
  its style reference (``--style-ref``, the pipeline's default method); seed 0, its default
  settings.

    .venv/bin/python scripts/styles_figures.py [--model DIR [--learned FILE] [--style-refs S1,S2]] [--out-dir docs/images]
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
#: the held-out scene drawn in each style as the --style-refs column's reference
REFERENCE_SCENE = 30_011


def _grid(images, out: Path, ncol: int, labels) -> None:
    save_grid(images, out, ncol=ncol, row_labels=labels, scale=2)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="text-to-image pipeline folder trained with --styles")
    parser.add_argument("--learned", default=None, help="a learned style file for --model (difflab train style)")
    parser.add_argument("--style-refs", default="", help="styles whose rendered scenes serve as --style-ref")
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
    columns = [((st or "(no style word)"), {"style": st}) for st in [None, *pipe.config.get("training", {}).get("styles", [])]]
    for st in filter(None, args.style_refs.split(",")):
        reference = render(dataclasses.replace(make_scene(EVAL_SEED, REFERENCE_SCENE), style=st), 64)
        columns.append((f"--style-ref ({st})", {"style_ref": reference}))
    images = {(p, label): pipe([p], seed=0, **options)[0] for p in PROMPTS for label, options in columns}
    if args.learned:  # last: the learned style's adapters change the network for every prompt
        from difflab.nets.lora import remove_lora
        from difflab.pipelines.learned_styles import apply_style

        word = apply_style(pipe, args.learned)
        for label, keep in ((f"learned {word!r}", False), (f"{word!r}, colours kept", True)):
            columns.append((label, {}))
            images.update({(p, label): pipe([p], seed=0, style=word, keep_colours=keep)[0] for p in PROMPTS})
        remove_lora(pipe.denoiser.net)
    _grid([images[p, label] for p in PROMPTS for label, _ in columns], out / "styles_generated.png", len(columns), PROMPTS)
    print("columns:", ", ".join(label for label, _ in columns))


if __name__ == "__main__":
    main()

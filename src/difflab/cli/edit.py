"""``difflab inpaint`` and ``difflab img2img``: edit an image with a trained model.

``--model`` is an image model folder (pixel space; ``--label`` steers a
class-conditional one) or a text-to-image pipeline folder (latent space; ``--prompt``
steers the edit). Without ``--model`` the shipped text-to-image pipeline is used.
Masks: white = regenerate, black = keep (see :mod:`difflab.masks`); the kept
pixels of the output equal the input's to the bit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import (add_overwrite, add_sampler_args, claim, count, number, numbered_pngs, positive_int,
                      sampler_options, seed, text)


def _label(text: str):
    """argparse type: a class index, or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a class index or 'auto', got {text!r}") from None


def _pipeline(args):
    """The pipeline of ``--model``: a text-to-image pipeline folder (the shipped one without
    ``--model``) or an image model folder; the steering option checked against it."""
    from ..pipelines.image import ImagePipeline
    from ..pipelines.text_to_image import TextToImagePipeline, is_text_to_image_folder, shipped_model_path

    folder = Path(str(args.model if args.model is not None else shipped_model_path()))
    if is_text_to_image_folder(folder):
        if args.label is not None:
            raise ValueError(f"{folder} is a text-to-image pipeline: steer it with --prompt, not --label")
        return TextToImagePipeline.load(folder)
    if args.prompt is not None:
        raise ValueError(f"{args.model}: --prompt needs a text-to-image pipeline folder; this is an image model "
                         "(use --label for a class-conditional one)")
    pipe = ImagePipeline.load(folder)
    if args.label is not None and not pipe.num_classes:
        raise ValueError(f"{args.model} is not class-conditional: --label does not apply")
    if args.label is not None and args.label != "auto":
        pipe.check_label(args.label)
    return pipe


def _condition(args, pipe):
    """The prompt or the label of an edit, as the pipeline takes it."""
    from ..pipelines.image import ImagePipeline

    if isinstance(pipe, ImagePipeline):
        return args.label
    return args.prompt or ""


def _claim_outputs(args) -> None:
    """Before any work: -n within the limit, and every output file new (or --overwrite) and writable."""
    count(args.n, "images")
    claim(args, *numbered_pngs(args.out, args.n))


def _save(result, out: str) -> None:
    from ..io.atomic import atomic_path

    for im, path in zip(result.pil(), numbered_pngs(out, len(result.images))):
        with atomic_path(path) as tmp:
            im.save(tmp, format="PNG")
        print(f"wrote {path}")


def _report(result) -> None:
    print(", ".join(f"{k} {v}" for k, v in result.info.items()))


def _cmd_inpaint(args) -> None:
    _claim_outputs(args)
    pipe = _pipeline(args)
    result = pipe.inpaint(args.image, args.mask, _condition(args, pipe), n=args.n, seed=args.seed,
                          guidance=args.guidance, steps=args.steps, method=args.method, sampler=args.sampler,
                          jump_length=args.jump_length, resample=args.resample, feather=args.feather,
                          spacing=args.spacing, **sampler_options(args))
    if args.label == "auto":
        print(f"label inferred from the kept pixels: {result.info['label']}")
    _report(result)
    _save(result, args.out)


def _cmd_img2img(args) -> None:
    if args.label == "auto":
        raise ValueError("--label auto reads the class off the kept pixels, so it needs inpaint's --mask")
    _claim_outputs(args)
    pipe = _pipeline(args)
    result = pipe.img2img(args.image, _condition(args, pipe), args.strength, n=args.n, seed=args.seed,
                          guidance=args.guidance, steps=args.steps, sampler=args.sampler, spacing=args.spacing,
                          **sampler_options(args))
    _report(result)
    _save(result, args.out)


def _common(p) -> None:
    p.add_argument("--model", default=None,
                   help="image model folder or text-to-image pipeline folder (default: the shipped pipeline)")
    p.add_argument("--prompt", type=text, default=None, help="what the edit should show (text-to-image pipelines)")
    p.add_argument("--image", required=True, help="input image (PNG/JPEG, the model's size)")
    p.add_argument("--out", required=True, help="output PNG (with -n > 1: OUT-0.png, OUT-1.png, ...)")
    p.add_argument("-n", type=positive_int, default=1, help="how many results (result i uses seed + i)")
    p.add_argument("--seed", type=seed, default=0)
    add_overwrite(p)
    p.add_argument("--label", type=_label, default=None,
                   help="class to steer towards (class-conditional models); inpaint: 'auto' infers it from the kept pixels")
    p.add_argument("--guidance", type=number(0), default=None,
                   help="classifier-free guidance scale with --label or --prompt (default 3, or the pipeline's)")


def register(sub) -> None:
    p = sub.add_parser("inpaint", help="regenerate the white part of a mask, keep the rest exactly (RePaint)")
    _common(p)
    p.add_argument("--mask", required=True, help="mask image of the same size: white = regenerate, black = keep")
    p.add_argument("--method", default="repaint", help="repaint (Lugmayr et al. 2022) or replace (no resampling)")
    p.add_argument("--jump-length", type=positive_int, default=10, help="RePaint jump length j (grid steps)")
    p.add_argument("--resample", type=positive_int, default=10, help="RePaint resamplings r per jump")
    p.add_argument("--feather", type=number(0), default=0.0, help="seam blur radius in pixels (inside the mask only)")
    add_sampler_args(p, sampler="ddpm", steps=50)
    p.set_defaults(handler=_cmd_inpaint)

    q = sub.add_parser("img2img", help="SDEdit: noise an image to --strength and denoise it")
    _common(q)
    q.add_argument("--strength", type=number(0, 1), default=0.6, help="0 returns the input, 1 ignores it (default 0.6)")
    add_sampler_args(q, sampler="ddim", steps=50)
    q.set_defaults(handler=_cmd_img2img)

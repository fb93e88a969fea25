"""``difflab upscale`` and ``difflab eval-superres``: super-resolution (SR3-style,
:mod:`difflab.tasks.superres`) with the shipped x4 model or one trained with
``difflab train superres`` (:func:`difflab.train.superres.train_superres`).

Building the parser imports no torch: defaults that live in :mod:`difflab.tasks.superres`
and :mod:`difflab.evaluate.superres` are filled in by the handlers."""

from __future__ import annotations

from pathlib import Path

from ._common import add_overwrite, claim, nonnegative_int, number, positive_int, seed


def _png(path: str, what: str) -> Path:
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ValueError(f"{what} must be a .png file, got {path!r}")
    return p


def _defaults(args) -> None:
    from ..evaluate.superres import EVAL_CROP
    from ..tasks.superres import DEFAULT_STEPS, DEFAULT_TEMPERATURE

    if args.steps is None:
        args.steps = DEFAULT_STEPS
    if args.temperature is None:
        args.temperature = DEFAULT_TEMPERATURE
    if getattr(args, "crop", 0) is None:
        args.crop = EVAL_CROP


def _cmd_upscale(args) -> None:
    from PIL import Image

    from ..io.atomic import atomic_path
    from ..pipelines.superres import SuperResolutionPipeline

    out = _png(args.out, "--out")
    claim(args, out)
    _defaults(args)
    if not Path(args.image).is_file():
        raise FileNotFoundError(f"input image {args.image!r} does not exist")
    pipe = SuperResolutionPipeline.load(args.model)
    if args.scale != pipe.scale:
        raise ValueError(f"--scale {args.scale}: this model upscales by {pipe.scale} only")
    pixels = pipe(args.image, steps=args.steps, sampler=args.sampler, seed=args.seed, aug_level=args.aug_level,
                  temperature=args.temperature)
    with atomic_path(out) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
    print(f"wrote {out} ({pixels.shape[1]}x{pixels.shape[0]})")


def _cmd_eval(args) -> None:
    from ..evaluate.superres import evaluate_superres, format_table, side_by_side

    picture = _png(args.picture, "--picture") if args.picture else None
    claim(args, picture)
    _defaults(args)
    result = evaluate_superres(args.model, scale=args.scale, crop=args.crop or None, steps=args.steps,
                               sampler=args.sampler, seed=args.seed, aug_level=args.aug_level,
                               temperature=args.temperature, return_images=picture is not None)
    s = result["settings"]
    print(f"x{s['scale']}, centre crops {s['crop'] or 'none'}, {s['sampler']} {s['steps']} steps, "
          f"seed {s['seed']}, aug level {s['aug_level']}, temperature {s['temperature']}")
    print(format_table(result))
    if picture is not None:
        side_by_side(result["images"], picture)
        print(f"wrote {picture}")


def _sampling(p) -> None:
    p.add_argument("--model", default=None, help="model folder (default: the shipped x4 model)")
    p.add_argument("--scale", type=positive_int, default=4, help="upscaling factor (default 4)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="sampler steps (default 1: one deterministic step from the mean, best in PSNR)")
    p.add_argument("--sampler", default="ddim", help="sampler (default ddim, deterministic)")
    p.add_argument("--seed", type=seed, default=0)
    add_overwrite(p)
    p.add_argument("--aug-level", type=number(0), default=None,
                   help="noise-conditioning level at sampling (default: the model's)")
    p.add_argument("--temperature", type=number(0, 1), default=None,
                   help="starting-noise scale: 0 = closest to the original (PSNR, the default), 1 = sharper samples")


def register(sub) -> None:
    p = sub.add_parser("upscale", help="super-resolve an image (x4 SR3-style diffusion model)")
    p.add_argument("image", help="input image (PNG/JPEG, any size)")
    p.add_argument("--out", required=True, help="output PNG")
    _sampling(p)
    p.set_defaults(handler=_cmd_upscale)

    q = sub.add_parser("eval-superres", help="PSNR/SSIM of the SR model vs bicubic on the held-out photographs")
    _sampling(q)
    q.add_argument("--crop", type=nonnegative_int, default=None, help="centre crop side (default 256; 0: whole photos)")
    q.add_argument("--picture", default=None, help="also write a side-by-side PNG: low | bicubic | SR | original")
    q.set_defaults(handler=_cmd_eval)

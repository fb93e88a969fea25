"""``difflab upscale``, ``difflab eval-superres`` and ``difflab train-superres``:
super-resolution (SR3-style, :mod:`difflab.superres`) with the shipped x4 model or one
trained with :func:`difflab.train.superres.train_superres`."""

from __future__ import annotations

from pathlib import Path

from ._common import positive_int


def _png(path: str, what: str) -> Path:
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ValueError(f"{what} must be a .png file, got {path!r}")
    return p


def _cmd_upscale(args) -> None:
    from PIL import Image

    from ..atomic import atomic_path
    from ..superres import load_superres, upscale

    out = _png(args.out, "--out")
    if not Path(args.image).is_file():
        raise FileNotFoundError(f"input image {args.image!r} does not exist")
    model = load_superres(args.model)
    if args.scale != model.scale:
        raise ValueError(f"--scale {args.scale}: this model upscales by {model.scale} only")
    pixels = upscale(model, args.image, args.scale, steps=args.steps, sampler=args.sampler, seed=args.seed,
                     aug_level=args.aug_level, temperature=args.temperature)
    with atomic_path(out) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
    print(f"wrote {out} ({pixels.shape[1]}x{pixels.shape[0]})")


def _cmd_eval(args) -> None:
    from ..superres import evaluate_superres, format_table, side_by_side

    picture = _png(args.picture, "--picture") if args.picture else None
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


def _cmd_train(args) -> None:
    from ..train.superres import ship, train_superres

    out = train_superres(args.out, steps=args.steps, batch_size=args.batch_size, scale=args.scale,
                         resume=args.resume, seed=args.seed)
    if args.ship:
        print(f"wrote {ship(out, args.ship)}")
    print(f"model folder {out}")


def _sampling(p, steps_default: int) -> None:
    from ..superres import DEFAULT_TEMPERATURE

    p.add_argument("--model", default=None, help="model folder (default: the shipped x4 model)")
    p.add_argument("--scale", type=positive_int, default=4, help="upscaling factor (default 4)")
    p.add_argument("--steps", type=positive_int, default=steps_default, help=f"sampler steps (default {steps_default})")
    p.add_argument("--sampler", default="ddim", help="sampler (default ddim, deterministic)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--aug-level", type=float, default=None,
                   help="noise-conditioning level at sampling (default: the model's)")
    p.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                   help=f"starting-noise scale: 0 = closest to the original (PSNR), 1 = sharper samples "
                        f"(default {DEFAULT_TEMPERATURE})")


def register(sub) -> None:
    from ..superres import DEFAULT_STEPS, EVAL_CROP

    p = sub.add_parser("upscale", help="super-resolve an image (x4 SR3-style diffusion model)")
    p.add_argument("image", help="input image (PNG/JPEG, any size)")
    p.add_argument("--out", required=True, help="output PNG")
    _sampling(p, DEFAULT_STEPS)
    p.set_defaults(handler=_cmd_upscale)

    q = sub.add_parser("eval-superres", help="PSNR/SSIM of the SR model vs bicubic on the held-out photographs")
    _sampling(q, DEFAULT_STEPS)
    q.add_argument("--crop", type=int, default=EVAL_CROP, help=f"centre crop side (default {EVAL_CROP}; 0: whole photos)")
    q.add_argument("--picture", default=None, help="also write a side-by-side PNG: low | bicubic | SR | original")
    q.set_defaults(handler=_cmd_eval)

    r = sub.add_parser("train-superres", help="train a super-resolution model on photo crops")
    r.add_argument("out", help="model / run folder")
    r.add_argument("--steps", type=positive_int, default=1500)
    r.add_argument("--batch-size", type=positive_int, default=16)
    r.add_argument("--scale", type=positive_int, default=4)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--resume", action="store_true", help="continue the run in OUT")
    r.add_argument("--ship", default=None, metavar="DIR", help="then write a float16 inference copy into DIR")
    r.set_defaults(handler=_cmd_train)

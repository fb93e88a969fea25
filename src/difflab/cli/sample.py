"""``difflab sample`` and ``difflab nll``: draw from a model folder, score held-out data."""

from __future__ import annotations

from ._common import (add_model, add_overwrite, add_sampler_args, claim, count, nonnegative_int, number, positive_int,
                      sampler_options, seed, toy_model)


def _sample_image(args, pipe) -> None:
    from ..viz import save_grid

    count(args.n, "images")
    out = args.out or "samples.png"
    claim(args, out, args.save_npy)
    x, info = pipe.sample(args.n, label=args.label, seed=args.seed, sampler=args.sampler, steps=args.steps,
                          guidance=args.guidance, spacing=args.spacing, return_info=True, **sampler_options(args))
    images = pipe.to_unit(x)
    classes_in_columns = pipe.num_classes and args.label is None
    ncol = pipe.num_classes if classes_in_columns else min(args.n, 10)
    if classes_in_columns:  # labels cycle through the classes, so with one column per class each column is a class
        print("columns are classes " + ", ".join(str(c) for c in pipe.classes))
    print(f"{args.n} samples, sampler {args.sampler}, {args.steps} steps, NFE {info.nfe}"
          + (f", guidance {args.guidance}" if pipe.num_classes else ""))
    if args.save_npy:
        _save_npy(images.numpy(), args.save_npy)
    save_grid(images, out, ncol=ncol)
    print(f"wrote {out}")


def _save_npy(array, path) -> None:
    import numpy as np

    from ..io.atomic import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
    print(f"wrote {path}")


def _cmd_sample(args) -> None:
    import torch

    from ..samplers import sample
    from ..data import Affine, toy_dataset
    from ..data.toy import HELD_OUT_SEED, REFERENCE_SEED
    from ..metrics import sliced_wasserstein
    from ..pipelines.image import ImagePipeline
    from ..io.folders import load_model

    denoiser, config = load_model(args.model, ema=not args.no_ema)
    if args.compile:
        denoiser.compile()
    if config.get("task") == "image":
        return _sample_image(args, ImagePipeline(denoiser, config))
    if config.get("task") != "toy":
        raise ValueError(f"{args.model}: 'difflab sample' draws toy and image models; this folder holds a {config.get('task')!r} model")
    count(args.n, "points")
    claim(args, args.out, args.save_npy)
    data_cfg = config["data"]
    transform = Affine.from_config(data_cfg["transform"])
    shape = (args.n, *data_cfg["shape"])
    x, info = sample(
        denoiser, shape, args.sampler, args.steps, generator=args.seed, spacing=args.spacing,
        return_info=True, **sampler_options(args),
    )
    x = transform.decode(x.float())
    draw = toy_dataset(data_cfg["name"])
    held_out = draw(args.n, torch.Generator().manual_seed(HELD_OUT_SEED))
    floor_ref = draw(args.n, torch.Generator().manual_seed(REFERENCE_SEED))
    sw = sliced_wasserstein(x, held_out)
    floor = sliced_wasserstein(floor_ref, held_out)
    print(f"{args.n} samples, sampler {args.sampler}, {args.steps} steps, NFE {info.nfe}")
    print(f"sliced W2 to held-out {data_cfg['name']}: {sw:.4f}  (noise floor {floor:.4f}, ratio {sw / floor:.2f})")
    if args.save_npy:
        _save_npy(x.numpy(), args.save_npy)
    if args.out:
        from ..viz import scatter_samples

        title = f"{data_cfg['name']}: {args.sampler}, {info.nfe} NFE, SW2 {sw:.3f} (floor {floor:.3f})"
        scatter_samples(x, args.out, data=held_out, title=title)
        print(f"wrote {args.out}")

def _cmd_nll(args) -> None:
    import math

    import torch

    from ..data import toy_dataset
    from ..data.toy import HELD_OUT_SEED
    from ..likelihood import log_likelihood

    count(args.n, "points")
    denoiser, config, transform = toy_model(args.model)
    name = args.data or config["data"]["name"]
    x = toy_dataset(name)(args.n, torch.Generator().manual_seed(HELD_OUT_SEED))  # held-out draw
    result = log_likelihood(denoiser, transform.encode(x).double(), trace=args.trace, generator=args.seed,
                            rtol=args.rtol, atol=args.atol)
    # change of variables back to data coordinates: log p(x) = log p(z) - sum log scale
    log_p = result.log_prob - torch.log(transform.scale.double()).sum()
    nll = -log_p
    stderr = nll.std().item() / math.sqrt(len(nll)) if len(nll) > 1 else float("nan")
    print(f"NLL of {args.n} held-out {name} points: {nll.mean().item():.4f} +- {stderr:.4f} nats "
          f"({args.trace} trace, {result.nfe} ODE evaluations)")


def register(sub) -> None:
    s = sub.add_parser("sample", help="draw samples from a model folder")
    add_model(s, "model folder")
    add_sampler_args(s)
    s.add_argument("-n", type=positive_int, default=2000, help="number of samples")
    s.add_argument("--seed", type=seed, default=0, help="sample i uses seed + i")
    s.add_argument("--guidance", type=number(0), default=3.0,
                   help="classifier-free guidance scale for class-conditional image models (0 = unconditional, 1 = conditional)")
    s.add_argument("--label", type=nonnegative_int, default=None, help="class label for all samples (default: cycle through the classes)")
    s.add_argument("--no-ema", action="store_true", help="use the training weights, not the EMA")
    s.add_argument("--compile", action="store_true", help="torch.compile the denoiser (pays off from a few batches on)")
    s.add_argument("--out", default=None, help="picture to write (PNG)")
    s.add_argument("--save-npy", default=None, help="also save the raw samples as .npy")
    add_overwrite(s)
    s.set_defaults(handler=_cmd_sample)

    nll = sub.add_parser("nll", help="negative log-likelihood of held-out data (probability-flow ODE)")
    add_model(nll, "model folder")
    nll.add_argument("--data", default=None, help="toy dataset (default: the model's own)")
    nll.add_argument("-n", type=positive_int, default=500, help="held-out points")
    nll.add_argument("--trace", default="exact", help="exact or hutchinson")
    nll.add_argument("--rtol", type=number(0, above=True), default=1e-5)
    nll.add_argument("--atol", type=number(0, above=True), default=1e-5)
    nll.add_argument("--seed", type=seed, default=0, help="Hutchinson probes")
    nll.set_defaults(handler=_cmd_nll)

"""The ``difflab`` command. Thin: it parses, calls the library, prints.

torch is imported only inside the command handlers, so ``difflab --help``
answers at once. Bad input ends in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from . import __version__

TOY_DATA = ("moons", "swiss-roll", "8gaussians", "checkerboard")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    for cast in (int, float):
        try:
            return key.replace("-", "_"), cast(value)
        except ValueError:
            pass
    return key.replace("-", "_"), value


# ----------------------------------------------------------------------------------
# handlers
# ----------------------------------------------------------------------------------


OBJECTIVES = {"eps": "eps", "x0": "x0", "v": "v", "dsm": "score"}


def _cmd_train_toy(args) -> None:
    from .train.toy import train_toy

    if args.objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {args.objective!r}; expected one of: {', '.join(OBJECTIVES)}")
    folder = train_toy(
        args.data, out=args.out, steps=args.steps, schedule=args.sde or args.schedule,
        prediction=OBJECTIVES[args.objective], weighting=args.weighting, t_sampling=args.t_sampling,
        batch_size=args.batch_size, lr=args.lr, width=args.width, depth=args.depth, seed=args.seed,
        progress=not args.quiet,
    )
    print(f"saved model folder {folder}")


def _cmd_train_image(args) -> None:
    from .train import world
    from .train.image import train_image

    folder = train_image(
        args.data, out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr, channels=args.channels,
        schedule=args.schedule, prediction=args.prediction, class_conditional=not args.unconditional,
        p_uncond=args.p_uncond, checkpoint_every=args.checkpoint_every, resume=args.resume, bf16=args.bf16,
        seed=args.seed, progress=not args.quiet, folder=args.folder, size=args.size,
    )
    if world().is_main:
        print(f"saved model folder {folder}")


def _sample_image(args, denoiser, config) -> None:
    import torch

    from . import sample
    from .data import Affine
    from .guidance import ClassifierFreeGuidance
    from .viz import save_grid

    data = config["data"]
    num_classes = config.get("num_classes")
    cond, model = {}, denoiser
    if num_classes:
        if args.label is not None and not 0 <= args.label < num_classes:
            raise ValueError(f"--label must be in 0..{num_classes - 1}, got {args.label}")
        labels = torch.full((args.n,), args.label) if args.label is not None else torch.arange(args.n) % num_classes
        cond = {"labels": labels}
        model = ClassifierFreeGuidance(denoiser, args.guidance)
    x, info = sample(model, (args.n, *data["shape"]), args.sampler, args.steps, generator=args.seed,
                     spacing=args.spacing, cond=cond, return_info=True, **_sampler_options(args))
    pixels = Affine.from_config(data["transform"]).decode(x.float())
    lo, hi = data["pixel_range"]
    images = (pixels - lo) / (hi - lo)
    ncol = num_classes if num_classes and args.label is None else min(args.n, 10)
    if num_classes and args.label is None:
        # labels cycle through the classes, so with one column per class each column is a class
        classes = data.get("classes") or list(range(num_classes))
        print("columns are classes " + ", ".join(str(c) for c in classes))
    print(f"{args.n} samples, sampler {args.sampler}, {args.steps} steps, NFE {info.nfe}"
          + (f", guidance {args.guidance}" if num_classes else ""))
    if args.save_npy:
        import numpy as np

        from .atomic import atomic_path

        with atomic_path(args.save_npy) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, images.numpy())
        print(f"wrote {args.save_npy}")
    out = args.out or "samples.png"
    save_grid(images, out, ncol=ncol)
    print(f"wrote {out}")


def _sampler_options(args) -> dict:
    options = dict(args.option or [])
    if args.eta is not None:
        options["eta"] = args.eta
    if args.variance is not None:
        options["variance"] = args.variance
    return options


def _cmd_sample(args) -> None:
    import numpy as np
    import torch

    from . import sample
    from .atomic import atomic_path
    from .data import Affine, toy_dataset
    from .metrics import sliced_wasserstein
    from .saving import load_model

    denoiser, config = load_model(args.model, ema=not args.no_ema)
    if config.get("task") == "image":
        return _sample_image(args, denoiser, config)
    if config.get("task") != "toy":
        raise ValueError(f"{args.model}: 'difflab sample' draws toy and image models; this folder holds a {config.get('task')!r} model")
    data_cfg = config["data"]
    transform = Affine.from_config(data_cfg["transform"])
    shape = (args.n, *data_cfg["shape"])
    x, info = sample(
        denoiser, shape, args.sampler, args.steps, generator=args.seed, spacing=args.spacing,
        return_info=True, **_sampler_options(args),
    )
    x = transform.decode(x.float())
    draw = toy_dataset(data_cfg["name"])
    held_out = draw(args.n, torch.Generator().manual_seed(2**31 - 1))
    floor_ref = draw(args.n, torch.Generator().manual_seed(2**31 - 2))
    sw = sliced_wasserstein(x, held_out)
    floor = sliced_wasserstein(floor_ref, held_out)
    print(f"{args.n} samples, sampler {args.sampler}, {args.steps} steps, NFE {info.nfe}")
    print(f"sliced W2 to held-out {data_cfg['name']}: {sw:.4f}  (noise floor {floor:.4f}, ratio {sw / floor:.2f})")
    if args.save_npy:
        with atomic_path(args.save_npy) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, x.numpy())
        print(f"wrote {args.save_npy}")
    if args.out:
        from .viz import scatter_samples

        title = f"{data_cfg['name']}: {args.sampler}, {info.nfe} NFE, SW2 {sw:.3f} (floor {floor:.3f})"
        scatter_samples(x, args.out, data=held_out, title=title)
        print(f"wrote {args.out}")


def _cmd_show_forward(args) -> None:
    import torch

    from .data import Affine, toy_dataset
    from .schedules import schedule_from_config
    from .train.toy import TOY_SCHEDULES
    from .viz import forward_strip

    if args.schedule not in TOY_SCHEDULES:
        raise ValueError(f"unknown schedule {args.schedule!r}; expected one of: {', '.join(TOY_SCHEDULES)}")
    draw = toy_dataset(args.data)
    g = torch.Generator().manual_seed(args.seed)
    x0 = draw(args.n, g)
    x0 = Affine.standardize(x0).encode(x0)
    times = args.times or [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]
    if any(not 0 <= t <= 1 for t in times):
        raise ValueError(f"--times must lie in [0, 1], got {times}")
    forward_strip(x0, schedule_from_config(TOY_SCHEDULES[args.schedule]), times, args.out, generator=g)
    print(f"wrote {args.out}")


def _cmd_show_reverse(args) -> None:
    import math

    import torch

    from .grids import make_grid
    from . import sample
    from .data import Affine, toy_dataset
    from .saving import load_model
    from .viz import reverse_strip

    denoiser, config = load_model(args.model)
    if config.get("task") != "toy":
        raise ValueError(f"{args.model}: 'show reverse' draws 2-D toy models for now")
    transform = Affine.from_config(config["data"]["transform"])
    # panels at noise levels spaced evenly in log sigma between the grid's ends
    grid = make_grid(denoiser.schedule, args.steps, args.spacing)
    targets = torch.logspace(math.log10(grid[0]), math.log10(grid[-2]), args.panels - 1, dtype=torch.float64)
    keep = {int(torch.argmin((grid[:-1].log() - t.log()).abs())) for t in targets}
    states = []

    def callback(d):
        if d["i"] in keep:
            # x in scaled coordinates, shown at unit scale: x / sqrt(1 + sigma^2)
            x_t = transform.decode(d["x"].float() / (1 + d["sigma"] ** 2) ** 0.5)
            states.append((d["sigma"], x_t, transform.decode(d["x0"].float())))

    x = sample(denoiser, (args.n, 2), args.sampler, args.steps, generator=args.seed, sigmas=grid, callback=callback)
    x = transform.decode(x.float())
    states.append((0.0, x, x))
    ref = toy_dataset(config["data"]["name"])(args.n, torch.Generator().manual_seed(0))
    reverse_strip(states, args.out, ref, f"reverse process: {args.sampler}, {args.steps} steps")
    print(f"wrote {args.out}")


def _toy_model(path):
    from .data import Affine
    from .saving import load_model

    denoiser, config = load_model(path)
    if config.get("task") != "toy":
        raise ValueError(f"{path}: this command works on 2-D toy models; the folder holds a {config.get('task')!r} model")
    return denoiser, config, Affine.from_config(config["data"]["transform"])


def _cmd_nll(args) -> None:
    import math

    import torch

    from .data import toy_dataset
    from .likelihood import log_likelihood

    denoiser, config, transform = _toy_model(args.model)
    name = args.data or config["data"]["name"]
    x = toy_dataset(name)(args.n, torch.Generator().manual_seed(2**31 - 1))  # held-out draw
    result = log_likelihood(denoiser, transform.encode(x).double(), trace=args.trace, generator=args.seed,
                            rtol=args.rtol, atol=args.atol)
    # change of variables back to data coordinates: log p(x) = log p(z) - sum log scale
    log_p = result.log_prob - torch.log(transform.scale.double()).sum()
    nll = -log_p
    stderr = nll.std().item() / math.sqrt(len(nll)) if len(nll) > 1 else float("nan")
    print(f"NLL of {args.n} held-out {name} points: {nll.mean().item():.4f} +- {stderr:.4f} nats "
          f"({args.trace} trace, {result.nfe} ODE evaluations)")


def _cmd_show_score(args) -> None:
    import torch

    from .data import exact_model, toy_dataset
    from .viz import score_fields

    denoiser, config, transform = _toy_model(args.model)
    name = config["data"]["name"]

    def learned(z, sigma):
        return (denoiser(z, sigma) - z) / sigma**2  # score in scaled coordinates

    fields = [("learned", learned)]
    exact = exact_model(name)
    if exact is not None:
        mix = exact.standardized(transform.shift, transform.scale)
        fields.append(("true (closed form)", lambda z, sigma: mix.score(z, 1.0, sigma)))
    points = transform.encode(toy_dataset(name)(1000, torch.Generator().manual_seed(0)))
    sigmas = args.sigmas or [0.05, 0.2, 0.5, 1.5]
    if any(s <= 0 for s in sigmas):
        raise ValueError(f"--sigmas must be positive, got {sigmas}")
    score_fields(fields, sigmas, args.out, points=points)
    print(f"wrote {args.out}")


# ----------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="difflab", description="Diffusion generative models: train, sample, look inside.")
    p.add_argument("--version", action="version", version=f"difflab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="train a model")
    tsub = train.add_subparsers(dest="task", metavar="TASK")
    toy = tsub.add_parser("toy", help="a 2-D toy model (MLP denoiser)")
    toy.add_argument("--data", default="moons", help=f"dataset: {', '.join(TOY_DATA)} (default moons)")
    toy.add_argument("--steps", type=_positive_int, default=3000, help="training steps (default 3000)")
    toy.add_argument("--out", required=True, help="model folder to write")
    toy.add_argument("--schedule", default="ddpm", help="ddpm, ddpm-cosine, vp, subvp, ve (default ddpm)")
    toy.add_argument("--sde", default=None, help="continuous-time SDE instead of --schedule: vp, subvp or ve")
    toy.add_argument("--objective", default="eps",
                     help="eps (Ho et al.), x0, v, or dsm (denoising score matching: the net predicts the score)")
    toy.add_argument("--weighting", default=None,
                     help="loss weighting: simple, sigma2 (NCSN, default for dsm) or likelihood (g(t)^2)")
    toy.add_argument("--t-sampling", default="uniform", help="uniform, or likelihood (importance sampling of t)")
    toy.add_argument("--batch-size", type=_positive_int, default=512)
    toy.add_argument("--lr", type=float, default=2e-3)
    toy.add_argument("--width", type=_positive_int, default=256)
    toy.add_argument("--depth", type=_positive_int, default=3)
    toy.add_argument("--seed", type=int, default=0)
    toy.add_argument("--quiet", action="store_true", help="no progress bar")
    toy.set_defaults(handler=_cmd_train_toy)

    img = tsub.add_parser("image", help="an image model (U-Net): digits, mnist5k or an image folder")
    img.add_argument("--data", default="mnist5k", help="digits, mnist5k or folder (default mnist5k)")
    img.add_argument("--out", required=True, help="model and run folder (checkpoint, loss log, loss curve)")
    img.add_argument("--steps", type=_positive_int, default=1000)
    img.add_argument("--batch-size", type=_positive_int, default=64)
    img.add_argument("--lr", type=float, default=1e-3)
    img.add_argument("--channels", type=_positive_int, default=32, help="U-Net base width")
    img.add_argument("--schedule", default="cosine", help="cosine or linear DDPM table")
    img.add_argument("--prediction", default="v", help="eps, x0, v or score")
    img.add_argument("--unconditional", action="store_true", help="no class labels")
    img.add_argument("--p-uncond", type=float, default=0.1, help="label dropout for classifier-free guidance")
    img.add_argument("--checkpoint-every", type=_positive_int, default=200)
    img.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    img.add_argument("--bf16", action="store_true", help="bfloat16 autocast (weights stay float32)")
    img.add_argument("--folder", default=None, help="image folder for --data folder")
    img.add_argument("--size", type=_positive_int, default=None, help="image size for --data folder")
    img.add_argument("--seed", type=int, default=0)
    img.add_argument("--quiet", action="store_true")
    img.set_defaults(handler=_cmd_train_image)

    s = sub.add_parser("sample", help="draw samples from a model folder")
    s.add_argument("model", help="model folder")
    s.add_argument("--sampler", default="ddim", help="sampler name (default ddim); a wrong name lists them")
    s.add_argument("--steps", type=_positive_int, default=50)
    s.add_argument("-n", type=_positive_int, default=2000, help="number of samples")
    s.add_argument("--seed", type=int, default=0, help="sample i uses seed + i")
    s.add_argument("--spacing", default=None, help="grid: trailing, leading, linspace, uniform-t, karras, log-snr")
    s.add_argument("--eta", type=float, default=None, help="DDIM eta (0 deterministic, 1 = DDPM)")
    s.add_argument("--variance", default=None, help="DDPM variance: posterior or beta")
    s.add_argument("-o", "--option", type=_option, action="append", metavar="NAME=VALUE", help="any other sampler option")
    s.add_argument("--guidance", type=float, default=3.0,
                   help="classifier-free guidance scale for class-conditional image models (0 = unconditional, 1 = conditional)")
    s.add_argument("--label", type=int, default=None, help="class label for all samples (default: cycle through the classes)")
    s.add_argument("--no-ema", action="store_true", help="use the training weights, not the EMA")
    s.add_argument("--out", default=None, help="picture to write (PNG)")
    s.add_argument("--save-npy", default=None, help="also save the raw samples as .npy")
    s.set_defaults(handler=_cmd_sample)

    nll = sub.add_parser("nll", help="negative log-likelihood of held-out data (probability-flow ODE)")
    nll.add_argument("model", help="model folder")
    nll.add_argument("--data", default=None, help="toy dataset (default: the model's own)")
    nll.add_argument("-n", type=_positive_int, default=500, help="held-out points")
    nll.add_argument("--trace", default="exact", help="exact or hutchinson")
    nll.add_argument("--rtol", type=float, default=1e-5)
    nll.add_argument("--atol", type=float, default=1e-5)
    nll.add_argument("--seed", type=int, default=0, help="Hutchinson probes")
    nll.set_defaults(handler=_cmd_nll)

    show = sub.add_parser("show", help="draw a picture of an idea")
    ssub = show.add_subparsers(dest="what", metavar="WHAT")
    fwd = ssub.add_parser("forward", help="the forward process q(x_t | x_0) as a strip of panels")
    fwd.add_argument("--data", default="moons", help=f"dataset: {', '.join(TOY_DATA)}")
    fwd.add_argument("--schedule", default="ddpm", help="ddpm, ddpm-cosine, vp, subvp, ve")
    fwd.add_argument("--times", type=float, nargs="+", default=None, help="times in [0, 1]")
    fwd.add_argument("-n", type=_positive_int, default=2000)
    fwd.add_argument("--seed", type=int, default=0)
    fwd.add_argument("--out", required=True)
    fwd.set_defaults(handler=_cmd_show_forward)
    rev = ssub.add_parser("reverse", help="the reverse process of a trained toy model")
    rev.add_argument("model", help="model folder")
    rev.add_argument("--sampler", default="ddpm")
    rev.add_argument("--steps", type=_positive_int, default=100)
    rev.add_argument("--spacing", default=None, help="grid spacing (see 'difflab sample')")
    rev.add_argument("--panels", type=_positive_int, default=6)
    rev.add_argument("-n", type=_positive_int, default=2000)
    rev.add_argument("--seed", type=int, default=0)
    rev.add_argument("--out", required=True)
    rev.set_defaults(handler=_cmd_show_reverse)
    sc = ssub.add_parser("score", help="the learned score field of a toy model (beside the true one when known)")
    sc.add_argument("model", help="model folder")
    sc.add_argument("--sigmas", type=float, nargs="+", default=None, help="noise levels (default 0.05 0.2 0.5 1.5)")
    sc.add_argument("--out", required=True)
    sc.set_defaults(handler=_cmd_show_score)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        # a command group without its sub-command: show that group's help
        parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        return 2
    try:
        handler(args)
    except KeyboardInterrupt:
        print("difflab: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError, ImportError, OSError, RuntimeError) as e:
        if os.environ.get("DIFFLAB_DEBUG"):
            raise
        print(f"difflab: error: {e} (set DIFFLAB_DEBUG=1 for the traceback)" if isinstance(e, RuntimeError)
              else f"difflab: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

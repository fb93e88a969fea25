"""``difflab show forward|reverse|score``: pictures of the ideas."""

from __future__ import annotations

from pathlib import Path

from ._common import SPACINGS, TOY_DATA, add_model, add_overwrite, claim, count, number, positive_int, seed, toy_model


def _cmd_show_forward(args) -> None:
    import torch

    from ..data import Affine, toy_dataset
    from ..schedules import schedule_preset
    from ..viz import forward_strip

    schedule = schedule_preset(args.schedule)
    count(args.n, "points")
    claim(args, args.out)
    draw = toy_dataset(args.data)
    g = torch.Generator().manual_seed(args.seed)
    x0 = draw(args.n, g)
    x0 = Affine.standardize(x0).encode(x0)
    times = args.times or [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]
    forward_strip(x0, schedule, times, args.out, generator=g)
    print(f"wrote {args.out}")


def _panel_steps(grid, panels: int) -> set[int]:
    """Indices of ``panels - 1`` grid steps at noise levels evenly spaced in log sigma
    between the grid's first and last non-zero levels (the final panel is the sample)."""
    import math

    import torch

    targets = torch.logspace(math.log10(grid[0]), math.log10(grid[-2]), max(1, panels - 1), dtype=torch.float64)
    return {int(torch.argmin((grid[:-1].log() - t.log()).abs())) for t in targets}


def _cmd_show_reverse(args) -> None:
    import torch

    from ..samplers import sample
    from ..data import Affine, toy_dataset
    from ..grids import make_grid
    from ..pipelines.image import ImagePipeline
    from ..io.folders import load_model
    from ..viz import reverse_strip, save_gif, trajectory_grid

    denoiser, config = load_model(args.model)
    task = config.get("task")
    if task not in ("toy", "image"):
        raise ValueError(f"{args.model}: 'show reverse' draws toy and image models; this folder holds a {task!r} model")
    data = config["data"]
    image = task == "image"
    pipe = ImagePipeline(denoiser, config) if image else None
    n = count(args.n or (min(config.get("num_classes") or 8, 10) if image else 2000), "images" if image else "points")
    gif = (args.gif or str(Path(args.out).with_suffix(".gif"))) if image else None
    claim(args, args.out, gif)
    grid = make_grid(denoiser.schedule, args.steps, args.spacing)
    keep = _panel_steps(grid, args.panels)
    transform = Affine.from_config(data["transform"])

    def view(x):  # model space -> data space ([0, 1] for images)
        return pipe.to_unit(x).clamp(0, 1) if image else transform.decode(x.float())

    states, frames = [], []

    def callback(d):
        # x in scaled coordinates, shown at unit scale: x / sqrt(1 + sigma^2)
        x_t, x0 = view(d["x"] / (1 + d["sigma"] ** 2) ** 0.5), view(d["x0"])
        if d["i"] in keep:
            states.append((d["sigma"], x_t, x0))
        if image:
            frames.append((d["sigma"], torch.cat([x_t, x0])))

    if image:
        x = pipe.sample(n, seed=args.seed, sampler=args.sampler, guidance=args.guidance, sigmas=grid, callback=callback)
    else:
        x = sample(denoiser, (n, *data["shape"]), args.sampler, args.steps, generator=args.seed, sigmas=grid,
                   callback=callback)
    x = view(x)
    states.append((0.0, x, x))
    if not image:
        ref = toy_dataset(data["name"])(n, torch.Generator().manual_seed(0))
        reverse_strip(states, args.out, ref, f"reverse process: {args.sampler}, {args.steps} steps")
        print(f"wrote {args.out}")
        return
    trajectory_grid(states, args.out)
    print(f"wrote {args.out}  (columns: noise levels; rows: x_t and the predicted x0 of each sample)")
    frames.append((0.0, torch.cat([x, x])))
    save_gif([f for _, f in frames], gif, ncol=n, captions=[f"sigma {s:.3g}: x_t (top), x0^ (bottom)" for s, _ in frames])
    print(f"wrote {gif}  ({len(frames)} frames)")


def _cmd_show_score(args) -> None:
    import torch

    from ..data import exact_model, toy_dataset
    from ..viz import score_fields

    claim(args, args.out)
    denoiser, config, transform = toy_model(args.model)
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
    score_fields(fields, sigmas, args.out, points=points)
    print(f"wrote {args.out}")


def register(sub) -> None:
    show = sub.add_parser("show", help="draw a picture of an idea")
    ssub = show.add_subparsers(dest="what", metavar="WHAT")
    fwd = ssub.add_parser("forward", help="the forward process q(x_t | x_0) as a strip of panels")
    fwd.add_argument("--data", default="moons", help=f"dataset: {', '.join(TOY_DATA)}")
    fwd.add_argument("--schedule", default="ddpm", help="ddpm (linear), ddpm-cosine (cosine), vp, subvp, ve")
    fwd.add_argument("--times", type=number(0, 1), nargs="+", default=None, help="times in [0, 1]")
    fwd.add_argument("-n", type=positive_int, default=2000)
    fwd.add_argument("--seed", type=seed, default=0)
    fwd.add_argument("--out", required=True)
    add_overwrite(fwd)
    fwd.set_defaults(handler=_cmd_show_forward)
    rev = ssub.add_parser("reverse", help="the reverse process of a trained model: a toy's point cloud, or an image "
                          "model's x_t and predicted x0 as a grid (PNG) and an animation (GIF)")
    add_model(rev, "model folder")
    rev.add_argument("--sampler", default="ddpm")
    rev.add_argument("--steps", type=positive_int, default=100)
    rev.add_argument("--spacing", default=None, help=f"grid: {', '.join(SPACINGS)}")
    rev.add_argument("--panels", type=positive_int, default=6)
    rev.add_argument("-n", type=positive_int, default=None, help="samples (default 2000 points, or one image per class)")
    rev.add_argument("--guidance", type=number(0), default=3.0, help="classifier-free guidance of a class-conditional model")
    rev.add_argument("--gif", default=None, help="animation of an image model's reverse process (default: --out as .gif)")
    rev.add_argument("--seed", type=seed, default=0)
    rev.add_argument("--out", required=True)
    add_overwrite(rev)
    rev.set_defaults(handler=_cmd_show_reverse)
    sc = ssub.add_parser("score", help="the learned score field of a toy model (beside the true one when known)")
    add_model(sc, "model folder")
    sc.add_argument("--sigmas", type=number(0, above=True), nargs="+", default=None, help="noise levels (default 0.05 0.2 0.5 1.5)")
    sc.add_argument("--out", required=True)
    add_overwrite(sc)
    sc.set_defaults(handler=_cmd_show_score)

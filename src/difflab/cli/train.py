"""``difflab train toy|image``: train a model and save its folder."""

from __future__ import annotations

import argparse

import math

from ._common import TOY_DATA, add_overwrite, claim, device, nonnegative_int, number, positive_int, seed

OBJECTIVES = {"eps": "eps", "x0": "x0", "v": "v", "dsm": "score"}
#: difflab.precision.PRECISIONS, spelled here so that the parser does not import torch (a test checks)
PRECISIONS = ("fp32", "bf16", "auto")
#: difflab.nets.style_adapter.ATTENTION, spelled here for the same reason
ATTENTION = ("decoupled", "joint", "both")
#: difflab.pipelines.style_adapter_training.TARGETS, spelled here for the same reason
TARGETS = ("data", "style-word")
WEIGHTING_HELP = "loss weighting: simple, min-snr (min(SNR, 5) on the x0 error, Hang et al. 2023)"


def _cmd_train_toy(args) -> None:
    from ..train.toy import train_toy

    if args.objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {args.objective!r}; expected one of: {', '.join(OBJECTIVES)}")
    folder = train_toy(
        args.data, out=args.out, steps=args.steps, schedule=args.schedule,
        prediction=OBJECTIVES[args.objective], weighting=args.weighting, t_sampling=args.t_sampling,
        batch_size=args.batch_size, lr=args.lr, width=args.width, depth=args.depth, seed=args.seed,
        progress=not args.quiet, overwrite=args.overwrite, resume=args.resume,
        checkpoint_every=args.checkpoint_every, device=args.device, compile=args.compile,
        precision=args.precision,
    )
    print(f"saved model folder {folder}")


def _cmd_train_image(args) -> None:
    from ..train import world
    from ..train.image import train_image

    folder = train_image(
        args.data, out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr, channels=args.channels,
        schedule=args.schedule, prediction=args.prediction, weighting=args.weighting,
        t_sampling=args.t_sampling, class_conditional=not args.unconditional,
        p_uncond=args.p_uncond, checkpoint_every=args.checkpoint_every, resume=args.resume,
        seed=args.seed, progress=not args.quiet, folder=args.folder, size=args.size, overwrite=args.overwrite,
        device=args.device, compile=args.compile,
        precision=args.precision,
    )
    if world().is_main:
        print(f"saved model folder {folder}")

def _ints(text: str) -> list[int]:
    try:
        values = [int(m) for m in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise ValueError(f"expected comma-separated positive integers such as 1,2,2, got {text!r}")
    return values


def _floats(text: str) -> list[float]:
    try:
        values = [float(m) for m in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"expected comma-separated numbers >= 0 such as 1,3,1, got {text!r}")
    return values


def _styles(text: str | None) -> tuple[str, ...] | None:
    """--styles: comma-separated rendering style names (None: the flat stream)."""
    if text is None:
        return None
    from ..data.shapes import check_styles

    return check_styles([s.strip() for s in text.split(",") if s.strip()])


def _named_weights(text: str, names, example: str) -> dict[str, float]:
    """Comma-separated NAME=W pairs, such as ``example``, with NAME among ``names``."""
    pairs = [[part.strip() for part in item.split("=")] for item in text.split(",") if item.strip()]
    if not pairs or any(len(p) != 2 or p[0] not in names for p in pairs):
        raise ValueError(f"expected comma-separated NAME=WEIGHT pairs with names among {list(names)}, such as "
                         f"{example}, got {text!r}")
    return dict(zip((name for name, _ in pairs), _floats(",".join(w for _, w in pairs))))


def _style_weights(text: str | None) -> dict[str, float] | None:
    """--style-weights: comma-separated STYLE=W pairs such as outline=2,glow=2 (None: uniform)."""
    from ..data.shapes import RENDER_STYLES

    return None if text is None else _named_weights(text, RENDER_STYLES, "outline=2,glow=2")


def _background_weights(text: str | None) -> dict[str, float] | None:
    """--background-weights: comma-separated BACKGROUND=W pairs such as white=2 (None: uniform)."""
    from ..data.shapes import BACKGROUNDS

    return None if text is None else _named_weights(text, BACKGROUNDS, "white=2")


def _cmd_train_autoencoder(args) -> None:
    from ..pipelines.data import shapes_image_draw
    from ..train.autoencoder import train_autoencoder

    if args.data != "shapes":
        raise ValueError(f"--data must be 'shapes' (the only image stream with unlimited draws), got {args.data!r}")
    if args.decoder_only and not args.init:
        raise ValueError("--decoder-only fine-tunes the decoder of a trained autoencoder: give --init DIR")
    styles = _styles(args.styles)
    data = {"name": "shapes", "size": args.size, **({"pool": args.pool} if args.pool else {}),
            **({"styles": list(styles)} if styles else {})}
    folder = train_autoencoder(
        shapes_image_draw(args.size, pool=args.pool, workers=args.workers, styles=styles), out=args.out,
        eval_draw=shapes_image_draw(args.size, styles=styles) if args.pool else None, steps=args.steps,
        batch_size=args.batch_size, lr=args.lr, channels=args.channels, channel_mult=_ints(args.channel_mult),
        latent_channels=args.latent_channels, kl_weight=args.kl_weight, reconstruction=args.reconstruction, crop=args.crop,
        checkpoint_every=args.checkpoint_every, resume=args.resume, data=data, seed=args.seed,
        device=args.device, progress=not args.quiet, overwrite=args.overwrite, compile=args.compile,
        precision=args.precision, init=args.init, decoder_only=args.decoder_only,
    )
    print(f"saved autoencoder folder {folder}")


def _cmd_train_t2i(args) -> None:
    from ..pipelines.training import train_text_to_image

    folder = train_text_to_image(
        args.autoencoder, out=args.out, text_encoder=args.text_encoder, scenes=args.scenes, steps=args.steps,
        batch_size=args.batch_size, lr=args.lr, channels=args.channels, channel_mult=_ints(args.channel_mult),
        num_res_blocks=args.num_res_blocks, p_uncond=args.p_uncond, ema_half_life=args.ema_half_life, warmup=args.warmup,
        checkpoint_every=args.checkpoint_every, resume=args.resume, seed=args.seed, progress=not args.quiet,
        device=args.device, workers=args.workers, init=args.init,
        object_weights=_floats(args.object_weights) if args.object_weights else None, overwrite=args.overwrite,
        compile=args.compile, precision=args.precision, styles=_styles(args.styles),
        style_weights=_style_weights(args.style_weights), background_weights=_background_weights(args.background_weights),
    )
    print(f"saved text-to-image pipeline folder {folder}")


def _cmd_train_superres(args) -> None:
    from ..train.superres import ship, train_superres

    if args.ship:  # checked before the training, not after it
        from pathlib import Path

        claim(args, *(Path(args.ship) / name for name in ("config.json", "model.safetensors")))
    out = train_superres(out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr, scale=args.scale,
                         checkpoint_every=args.checkpoint_every, resume=args.resume, overwrite=args.overwrite,
                         seed=args.seed, device=args.device, progress=not args.quiet, compile=args.compile,
                         precision=args.precision)
    if args.ship:
        print(f"wrote {ship(out, args.ship)}")
    print(f"model folder {out}")


def _cmd_train_style_adapter(args) -> None:
    from ..pipelines.style_adapter_training import train_style_adapter
    from ..pipelines.text_to_image import shipped_model_path

    path = train_style_adapter(args.model or shipped_model_path(), out=args.out, styles=_styles(args.styles),
                               scenes=args.scenes, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                               tokens=args.tokens, attention=args.attention, target=args.target,
                               checkpoint_every=args.checkpoint_every, resume=args.resume, overwrite=args.overwrite,
                               seed=args.seed, workers=args.workers, progress=not args.quiet, device=args.device,
                               compile=args.compile, precision=args.precision, init=args.init,
                               style_sigma=args.style_sigma)
    print(f"saved style adapter {path} ({path.stat().st_size / 1024:.0f} KB); use it with: difflab generate PROMPT "
          f"--style-ref IMAGE --style-adapter {path} (or copy it into the pipeline folder)")


def _cmd_train_clip(args) -> None:
    from ..pipelines.clip_training import train_clip

    folder = train_clip(out=args.out, text_encoder=args.text_encoder, scenes=args.scenes, steps=args.steps,
                        batch_size=args.batch_size, lr=args.lr, embed_dim=args.embed_dim,
                        checkpoint_every=args.checkpoint_every, resume=args.resume, overwrite=args.overwrite,
                        seed=args.seed, progress=not args.quiet, device=args.device, compile=args.compile,
                        precision=args.precision, workers=args.workers)
    print(f"saved CLIP encoder folder {folder}")


def _cmd_train_style(args) -> None:
    from pathlib import Path

    from ..pipelines.learned_styles import STYLES_DIR, check_style_name, train_style
    from ..pipelines.text_to_image import shipped_model_path

    name = check_style_name(args.name)
    out = Path(args.out) if args.out else Path("runs") / f"style-{name}"
    style_file = Path(args.style_file) if args.style_file else STYLES_DIR / f"{name}.safetensors"
    if style_file.exists() and not (args.overwrite or args.resume):
        raise FileExistsError(f"{style_file} exists: pass --overwrite to replace it (or --style-file elsewhere)")
    for image in args.images:
        if not Path(image).is_file():
            raise FileNotFoundError(f"no image file {image}")
    prior_prompts = None
    if args.prior_prompts is not None:
        if not Path(args.prior_prompts).is_file():
            raise FileNotFoundError(f"no prompt file {args.prior_prompts}")
        prior_prompts = [line.strip() for line in Path(args.prior_prompts).read_text().splitlines() if line.strip()]
        if not prior_prompts:
            raise ValueError(f"{args.prior_prompts} holds no prompts (one per line)")
    path = train_style(args.model or shipped_model_path(styles=True), args.images, name=name, out=out, style_file=style_file,
                       steps=args.steps, batch_size=args.batch_size, lr=args.lr, rank=args.rank,
                       checkpoint_every=args.checkpoint_every, resume=args.resume, overwrite=args.overwrite,
                       seed=args.seed, progress=not args.quiet, device=args.device, compile=args.compile,
                       precision=args.precision, prior_images=args.prior_images, prior_prompts=prior_prompts,
                       prior_weight=args.prior_weight, layers=args.layers)
    print(f"saved style {name!r} to {path} ({path.stat().st_size / 1024:.0f} KB); "
          f"use it with: difflab generate PROMPT --style {name if path.parent == STYLES_DIR else path}")


def _cmd_train_prior(args) -> None:
    from ..pipelines.unclip_training import train_prior

    if args.compile or args.precision != "fp32":
        raise ValueError("the prior trains in float32, eagerly (it is small): --compile and --precision do not apply")
    folder = train_prior(args.clip, out=args.out, scenes=args.scenes, steps=args.steps, batch_size=args.batch_size,
                         lr=args.lr, p_uncond=args.p_uncond, checkpoint_every=args.checkpoint_every,
                         resume=args.resume, overwrite=args.overwrite, seed=args.seed, progress=not args.quiet,
                         device=args.device, workers=args.workers)
    print(f"saved prior folder {folder}")


def _cmd_train_decoder(args) -> None:
    from ..pipelines.unclip_training import train_decoder

    folder = train_decoder(args.clip, out=args.out, init=args.init, scenes=args.scenes, steps=args.steps,
                           batch_size=args.batch_size, lr=args.lr, p_caption=args.p_caption, p_embed=args.p_embed,
                           checkpoint_every=args.checkpoint_every, resume=args.resume, overwrite=args.overwrite,
                           seed=args.seed, progress=not args.quiet, device=args.device, compile=args.compile,
                           precision=args.precision, workers=args.workers, t_sampling=args.t_sampling)
    print(f"saved decoder folder {folder}")


def _run(p, *, steps: int, batch_size: int, lr: float, checkpoint_every: int, out: str, out_default=None,
         precision: str = "fp32") -> None:
    """The options every trainer takes, spelled and checked alike (defaults: the trainer's own;
    ``out_default``: a trainer whose --out may be left out)."""
    p.add_argument("--out", required=out_default is None, default=out_default, help=out)
    p.add_argument("--steps", type=positive_int, default=steps, help=f"training steps (default {steps})")
    p.add_argument("--batch-size", type=positive_int, default=batch_size, help=f"images per step (default {batch_size})")
    p.add_argument("--lr", type=number(0, above=True), default=lr, help=f"peak learning rate (default {lr:g})")
    p.add_argument("--seed", type=seed, default=0, help="initial weights, data and noise streams (default 0)")
    p.add_argument("--device", type=device, default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--checkpoint-every", type=positive_int, default=checkpoint_every,
                   help=f"steps between checkpoints (default {checkpoint_every})")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network (eager, with a warning, where this machine cannot compile)")
    p.add_argument("--precision", choices=PRECISIONS, default=precision,
                   help="fp32, bf16 (bfloat16 autocast, float32 weights; emulated and slower where the hardware "
                        f"lacks it) or auto (bf16 where native) (default {precision})")
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_overwrite(p, "start afresh in --out, replacing the model or run there")


def register(sub) -> None:
    train = sub.add_parser("train", help="train a model")
    tsub = train.add_subparsers(dest="task", metavar="TASK")
    toy = tsub.add_parser("toy", help="a 2-D toy model (MLP denoiser)")
    toy.add_argument("--data", default="moons", help=f"dataset: {', '.join(TOY_DATA)} (default moons)")
    _run(toy, steps=3000, batch_size=512, lr=2e-3, checkpoint_every=500, out="model and run folder")
    toy.add_argument("--schedule", default="ddpm",
                     help="ddpm (linear), ddpm-cosine (cosine), vp, subvp, ve (default ddpm)")
    toy.add_argument("--sde", dest="schedule", help=argparse.SUPPRESS)  # the old spelling of --schedule
    toy.add_argument("--objective", default="eps",
                     help="eps (Ho et al.), x0, v, or dsm (denoising score matching: the net predicts the score)")
    toy.add_argument("--weighting", default=None,
                     help=WEIGHTING_HELP + ", sigma2 (NCSN, default for dsm) or likelihood (g(t)^2)")
    toy.add_argument("--t-sampling", default="uniform", help="uniform, or likelihood (importance sampling of t)")
    toy.add_argument("--width", type=positive_int, default=256)
    toy.add_argument("--depth", type=positive_int, default=3)
    toy.set_defaults(handler=_cmd_train_toy)

    img = tsub.add_parser("image", help="an image model (U-Net): digits, mnist5k or an image folder")
    _run(img, steps=1600, batch_size=32, lr=1e-3, checkpoint_every=200,
         out="model and run folder (checkpoint, loss log, loss curve)", precision="auto")
    img.add_argument("--data", default="mnist5k", help="digits, mnist5k or folder (default mnist5k)")
    img.add_argument("--channels", type=positive_int, default=32, help="U-Net base width")
    img.add_argument("--schedule", default="cosine", help="a DDPM table: cosine (ddpm-cosine) or linear (ddpm)")
    img.add_argument("--prediction", default="v", help="eps, x0, v or score")
    img.add_argument("--weighting", default="min-snr", help=WEIGHTING_HELP + " (default min-snr)")
    img.add_argument("--t-sampling", default="uniform",
                     help="density of training times: uniform, likelihood, edm (EDM's lognormal) or logit-normal (SD3's)")
    img.add_argument("--unconditional", action="store_true", help="no class labels")
    img.add_argument("--p-uncond", type=number(0, 1), default=0.1, help="label dropout for classifier-free guidance")
    img.add_argument("--folder", default=None, help="image folder for --data folder")
    img.add_argument("--size", type=positive_int, default=None, help="image size for --data folder")
    img.set_defaults(handler=_cmd_train_image)

    ae = tsub.add_parser("autoencoder", help="the KL autoencoder of latent diffusion, on captioned shapes")
    ae.add_argument("--data", default="shapes", help="image stream (shapes)")
    ae.add_argument("--size", type=positive_int, default=32, help="image side in pixels (default 32)")
    _run(ae, steps=2500, batch_size=8, lr=2e-3, checkpoint_every=500, out="autoencoder and run folder")
    ae.add_argument("--channels", type=positive_int, default=16, help="base width (default 16)")
    ae.add_argument("--channel-mult", default="1,2,2", help="width multipliers; factor 2^(levels-1) (default 1,2,2: 4)")
    ae.add_argument("--latent-channels", type=positive_int, default=4)
    ae.add_argument("--kl-weight", type=number(0), default=1e-6)
    ae.add_argument("--reconstruction", default="l2", choices=("l1", "l2"), help="reconstruction loss (default l2)")
    ae.add_argument("--pool", type=positive_int, default=None,
                    help="render this many scenes once and draw from them (for a GPU); default: render every draw")
    ae.add_argument("--workers", type=positive_int, default=1, help="processes that render --pool (default 1)")
    ae.add_argument("--crop", type=positive_int, default=None,
                    help="train on random crops of this side (PSNR is measured on whole images); default: whole images")
    ae.add_argument("--styles", default=None, metavar="S1,S2,...",
                    help="rendering styles of the scenes (flat, outline, striped, dotted, pixel, glow; default: flat only)")
    ae.add_argument("--init", default=None, metavar="DIR",
                    help="fine-tune: start from this autoencoder folder (its network replaces --channels ...)")
    ae.add_argument("--decoder-only", action="store_true",
                    help="with --init: train the decoder alone; the encoder and the latent scale stay, so denoisers "
                         "trained on the latents still fit")
    ae.set_defaults(handler=_cmd_train_autoencoder)

    t2i = tsub.add_parser("t2i", help="a latent text-to-image diffusion pipeline on captioned shapes")
    t2i.add_argument("--autoencoder", required=True, help="a trained autoencoder folder (difflab train autoencoder)")
    _run(t2i, steps=1700, batch_size=64, lr=2e-3, checkpoint_every=200, out="pipeline and run folder")
    t2i.add_argument("--text-encoder", default="minilm", help="minilm (pretrained) or hashing (toy, for tests)")
    t2i.add_argument("--scenes", type=positive_int, default=8000, help="training scenes (each with all its captions)")
    t2i.add_argument("--channels", type=positive_int, default=48, help="U-Net base width")
    t2i.add_argument("--channel-mult", default="1,2", help="U-Net width multipliers per level (default 1,2)")
    t2i.add_argument("--num-res-blocks", type=positive_int, default=1, help="residual blocks per level (default 1)")
    t2i.add_argument("--p-uncond", type=number(0, 1), default=0.1, help="caption dropout for classifier-free guidance")
    t2i.add_argument("--ema-half-life", type=number(0, above=True), default=20_000, help="EMA half-life in images (default 20000)")
    t2i.add_argument("--warmup", type=positive_int, default=100, help="learning-rate warm-up steps (default 100)")
    t2i.add_argument("--workers", type=positive_int, default=1, help="processes that render the training scenes")
    t2i.add_argument("--init", default=None, metavar="DIR",
                     help="fine-tune: start from this pipeline folder's denoiser (its network replaces --channels ...)")
    t2i.add_argument("--object-weights", default=None, metavar="W1,W2,W3",
                     help="relative chance of drawing a scene of 1, 2, 3 objects (default: the dataset's mixture)")
    t2i.add_argument("--style-weights", default=None, metavar="STYLE=W,...",
                     help="relative chance of drawing a scene of these --styles, e.g. outline=2,glow=2 (default 1 each)")
    t2i.add_argument("--background-weights", default=None, metavar="BG=W,...",
                     help="relative chance of drawing a scene on this background (black, gray, white), e.g. white=2 "
                          "(default 1 each)")
    t2i.add_argument("--styles", default=None, metavar="S1,S2,...",
                     help="rendering styles of the training scenes, named in their captions (default: flat only)")
    t2i.set_defaults(handler=_cmd_train_t2i)

    st = tsub.add_parser("style", help="learn a style from a few example images (LoRA on the cross-attention and "
                                       "convolutions)")
    st.add_argument("images", nargs="+", metavar="IMAGE",
                    help="2 or more example images at the pipeline's size (a caption may sit beside each as IMAGE.txt)")
    st.add_argument("--name", required=True, help="the style's name, the word that applies it (generate --style NAME)")
    st.add_argument("--model", default=None, help="text-to-image pipeline folder (default: the shipped styled one, "
                    "generate --pipeline styles, which generate --style NAME then picks by itself)")
    _run(st, steps=1200, batch_size=8, lr=1e-3, checkpoint_every=100, out_default="",
         out="run folder: checkpoint, log, loss curve (default runs/style-NAME)")
    st.add_argument("--style-file", default=None, help="where the style file goes (default styles/NAME.safetensors)")
    st.add_argument("--rank", type=positive_int, default=4, help="LoRA rank (default 4)")
    st.add_argument("--layers", choices=("conv", "all", "kv"), default="conv",
                    help="layers to adapt: conv (the cross-attention's queries, keys/values, output and the residual "
                         "blocks' convolutions; default), all (the cross-attention's alone) or kv (the text's keys "
                         "and values only, as Custom Diffusion)")
    st.add_argument("--prior-images", type=nonnegative_int, default=0, metavar="K",
                    help="prior preservation (DreamBooth): train beside K images the model generates itself for "
                         "prompts that do not name the style (default 0: none)")
    st.add_argument("--prior-prompts", default=None, metavar="FILE",
                    help="the prior images' prompts, one per line (default: the examples' captions)")
    st.add_argument("--prior-weight", type=number(0, above=True), default=1.0, metavar="LAMBDA",
                    help="weight of the prior images' loss against the examples' (default 1)")
    st.set_defaults(handler=_cmd_train_style)

    sa = tsub.add_parser("style-adapter", help="a style adapter for --style-ref (IP-Adapter: a style encoder whose "
                                               "tokens enter the cross-attention)")
    sa.add_argument("--model", default=None, help="text-to-image pipeline folder, frozen (default: the shipped one)")
    _run(sa, steps=2000, batch_size=64, lr=5e-4, checkpoint_every=250,
         out="run folder: checkpoint, log, loss curve and style_adapter.safetensors")
    sa.add_argument("--styles", default=None, metavar="S1,S2,...",
                    help="rendering styles of the training scenes and references (default: the pipeline's trained styles)")
    sa.add_argument("--scenes", type=positive_int, default=8000, help="training scenes (default 8000)")
    sa.add_argument("--workers", type=positive_int, default=1, help="processes that render the scenes")
    sa.add_argument("--tokens", type=positive_int, default=4, help="the reference's tokens (default 4)")
    sa.add_argument("--attention", choices=ATTENTION, default="decoupled",
                    help="decoupled: cross-attention of their own (IP-Adapter); joint: the tokens join the "
                         "text's own cross-attention, as a learned word; both: one encoder's tokens each way "
                         "(default decoupled)")
    sa.add_argument("--target", choices=TARGETS, default="data",
                    help="data: the denoising loss; style-word: the pipeline's own prediction for the caption "
                         "naming the reference's style (a distillation; styles the pipeline was trained on)")
    sa.add_argument("--init", default=None, metavar="FILE", nargs="+",
                    help="start from this style adapter file's weights, e.g. one trained on this pipeline before its "
                         "denoiser was fine-tuned further (its --tokens and --attention are kept); two files, a "
                         "decoupled and a joint adapter, start an adapter of --attention both as their sum")
    sa.add_argument("--style-sigma", type=number(0), default=None, metavar="SIGMA",
                    help="train only at noise levels <= SIGMA, where a reference acts (generate's default for a "
                         "--style-ref: REFERENCE_STYLE_SIGMA of difflab.pipelines.text_to_image); default: every level")
    sa.set_defaults(handler=_cmd_train_style_adapter)

    c = tsub.add_parser("clip", help="unCLIP 1/3: a CLIP-style dual encoder (contrastive) on captioned shapes")
    _run(c, steps=1500, batch_size=256, lr=1e-3, checkpoint_every=250, out="CLIP encoder and run folder")
    c.add_argument("--text-encoder", default="minilm", help="minilm (pretrained) or hashing (toy, for tests)")
    c.add_argument("--scenes", type=positive_int, default=20_000, help="training scenes (each with all its captions)")
    c.add_argument("--embed-dim", type=positive_int, default=64, help="embedding dimension (default 64)")
    c.add_argument("--workers", type=positive_int, default=1, help="processes that render the training scenes")
    c.set_defaults(handler=_cmd_train_clip)

    pr = tsub.add_parser("prior", help="unCLIP 2/3: the diffusion prior (text -> CLIP image embedding)")
    pr.add_argument("--clip", required=True, help="a CLIP encoder folder (difflab train clip)")
    _run(pr, steps=3000, batch_size=256, lr=3e-4, checkpoint_every=500, out="prior and run folder")
    pr.add_argument("--scenes", type=positive_int, default=20_000, help="training scenes (each with all its captions)")
    pr.add_argument("--p-uncond", type=number(0, 1), default=0.1, help="text dropout for classifier-free guidance")
    pr.add_argument("--workers", type=positive_int, default=1, help="processes that render the training scenes")
    pr.set_defaults(handler=_cmd_train_prior)

    de = tsub.add_parser("decoder", help="unCLIP 3/3: the decoder (CLIP image embedding + caption -> image)")
    de.add_argument("--clip", required=True, help="a CLIP encoder folder (difflab train clip)")
    _run(de, steps=1500, batch_size=128, lr=3e-4, checkpoint_every=250, out="decoder and run folder")
    de.add_argument("--init", default=None, metavar="DIR",
                    help="the text-to-image pipeline whose denoiser and autoencoder it starts from (default: shipped), "
                         "or an unCLIP pipeline whose decoder it trains further")
    de.add_argument("--scenes", type=positive_int, default=20_000, help="training scenes (each with all its captions)")
    de.add_argument("--p-caption", type=number(0, 1), default=0.5, help="caption dropout (default 0.5)")
    de.add_argument("--p-embed", type=number(0, 1), default=0.1, help="embedding dropout (default 0.1)")
    de.add_argument("--workers", type=positive_int, default=1, help="processes that render the training scenes")
    de.add_argument("--t-sampling", default="uniform",
                    help="density of training noise levels: uniform, likelihood, edm (EDM's lognormal) or logit-normal "
                         "(SD3's)")
    de.set_defaults(handler=_cmd_train_decoder)

    r = tsub.add_parser("superres", help="an SR3-style x4 super-resolution model on photo crops")
    _run(r, steps=1500, batch_size=16, lr=1e-3, checkpoint_every=100, out="model and run folder")
    r.add_argument("--scale", type=positive_int, default=4)
    r.add_argument("--ship", default=None, metavar="DIR", help="then write a float16 inference copy into DIR")
    r.set_defaults(handler=_cmd_train_superres)

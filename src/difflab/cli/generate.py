"""``difflab generate`` and ``difflab eval-t2i``: text-to-image with a pipeline folder.

Without ``--model`` both use the pipeline shipped inside the package
(``difflab/assets/shapes-t2i``): nothing is downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import add_overwrite, add_sampler_args, claim, count, number, positive_int, sampler_options, seed, text


def _load(path, config=None, pipeline: str | None = None):
    from pathlib import Path

    import torch

    from ..pipelines.text_to_image import TextToImagePipeline, shipped_model_path
    from ..pipelines.unclip import is_unclip_folder

    if pipeline == "unclip" or (path is not None and is_unclip_folder(path)):
        from .unclip import load_unclip

        if config is not None:
            raise ValueError("--config applies to a single-file Stable Diffusion checkpoint, not to an unCLIP pipeline")
        return load_unclip(path)

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    if path is None:
        path = shipped_model_path(styles=pipeline == "styles")
    return TextToImagePipeline.load(Path(str(path)), config=config)


def _learned_style_base(args):
    """The shipped styled pipeline, loaded, when no --model or --pipeline is named and --style
    names a learned style that was learned on it (its fingerprint, the base's cross-attention, says
    so); else None. ``train style`` learns on that pipeline by default."""
    if args.model is not None or args.pipeline is not None or args.style is None:
        return None
    from ..nets.lora import fingerprint
    from ..pipelines.learned_styles import read_style, style_path

    path = style_path(args.style)
    if path is None:
        return None
    styled = _load(None, pipeline="styles")  # as any shipped pipeline: torch's threads capped first
    return styled if read_style(path)[0]["fingerprint"] == fingerprint(styled.denoiser.net) else None


def _check_style_ref_options(args, given: str | None) -> None:
    """One-line refusals, before anything is written: --style-method and --style-adapter without
    a style reference (``given``: the option that gives one, None where none is given), or
    both an adapter and shared attention."""
    if given is None and (args.style_method is not None or args.style_adapter is not None):
        raise ValueError("--style-method and --style-adapter choose how --style-ref borrows a style: give --style-ref")
    if args.style_adapter is not None:
        if args.style_method == "shared":
            raise ValueError("--style-adapter gives an adapter, --style-method shared asks for none: give one of them")
        if not Path(args.style_adapter).is_file():
            raise FileNotFoundError(f"no style adapter file {args.style_adapter}")


def _style_ref_settings(args, pipe, given: str | None) -> dict:
    """``style_weight`` and ``style_method`` for a style reference (``given``: the option that
    gives it; None: none), with the adapter of --style-adapter loaded into ``pipe``."""
    if given is None:
        return {}
    if args.style_adapter is not None:
        from ..pipelines.style_adapter import load_style_adapter


        pipe.style_adapter, _ = load_style_adapter(args.style_adapter, pipe.denoiser.net)
    return {"style_weight": args.style_weight, "style_method": args.style_method}


def _noise_level(text: str) -> float:
    """argparse type: a noise level >= 0, or inf."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a noise level (a number >= 0, or inf), got {text!r}") from None
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a noise level (a number >= 0, or inf), got {text!r}")
    return value


def _sampling(args, pipe=None) -> dict:
    settings = {"sampler": args.sampler, "steps": args.steps, "guidance": args.guidance, "spacing": args.spacing,
                **sampler_options(args)}
    from ..pipelines.unclip import UnCLIPPipeline

    if isinstance(pipe, UnCLIPPipeline):  # None: the pipeline's defaults
        settings = {k: v for k, v in settings.items() if v is not None}
        settings.update({k: v for k, v in (("prior_guidance", args.prior_guidance), ("candidates", args.candidates),
                                           ("clip_guidance", args.clip_guidance)) if v is not None})
    elif args.prior_guidance is not None or args.candidates is not None or args.clip_guidance is not None:
        raise ValueError("--prior-guidance, --candidates and --clip-guidance apply to an unCLIP pipeline (--pipeline unclip)")
    style, stylize, aspect, style_ref, style_sigma = (getattr(args, k, None) for k in
                                                      ("style", "stylize", "aspect", "style_ref", "style_sigma"))
    if style_ref is not None:
        if isinstance(pipe, UnCLIPPipeline):
            raise ValueError("--style-ref applies to a text-to-image pipeline, not to --pipeline unclip")
        settings.update(style_ref=style_ref, style_sigma=style_sigma, **_style_ref_settings(args, pipe, "--style-ref"))
    if style is not None or stylize is not None or aspect is not None:
        if isinstance(pipe, UnCLIPPipeline):
            raise ValueError("--style, --stylize and --aspect apply to a text-to-image pipeline, not to --pipeline unclip")
        if style is not None:
            from ..pipelines.learned_styles import apply_style, style_path

            learned = style_path(style)
            if learned is None and pipe.trained_styles is not None and style.strip() not in pipe.trained_styles:
                print(f"difflab: note: {style!r} is neither a style this model was trained on "
                      f"({', '.join(pipe.trained_styles)}) nor a learned style in styles/; it goes into the prompt "
                      f"as words{' (--pipeline styles knows five styles)' if args.pipeline is None and args.model is None else ''}",
                      file=sys.stderr)
            style = apply_style(pipe, learned) if learned is not None else style
        settings.update({"style": style, "stylize": stylize, "aspect": aspect, "style_sigma": style_sigma})
    if getattr(args, "keep_colours", False):
        settings["keep_colours"] = True
    return settings


def file_names(prompts, n: int) -> list[str]:
    """The PNG names of ``n`` images for each prompt: ``SLUG-i.png``, unique within the
    command: prompts that share a slug (``"a red circle"``, ``"A RED CIRCLE!"``, or
    equal in their first 48 name characters) get ``-pK`` for their position K."""
    from ..pipelines.text_to_image import prompt_slug

    stems = [prompt_slug(p) for p in prompts]
    while len(set(stems)) < len(stems):
        stems = [f"{s}-p{k}" if stems.count(s) > 1 else s for k, s in enumerate(stems)]
    return [f"{stem}-{i}.png" for stem in stems for i in range(n)]


def _cmd_generate(args) -> None:
    import time
    from pathlib import Path

    from PIL import Image

    from ..io.atomic import atomic_path
    from ..limits import check_pixels

    count(args.n * len(args.prompts), "images", f"-n {args.n} x {len(args.prompts)} prompts")
    if args.stylize is not None and args.style is None:  # before anything is written
        raise ValueError("--stylize sets how strongly a style acts: name one with --style")
    if args.keep_colours and args.style is None and args.style_ref is None:
        raise ValueError("--keep-colours keeps the prompt's colours under a style: name one with --style or give "
                         "--style-ref")
    if args.style_sigma is not None and args.style is None and args.style_ref is None:
        raise ValueError("--style-sigma sets where a style acts: name one with --style or --style-ref")
    if args.style_sigma is not None and args.style is None and args.style_method == "shared":
        raise ValueError("--style-sigma sets where a style reference acts through a style adapter; shared attention "
                         "acts at every level")
    if args.style_ref is not None and not Path(args.style_ref).is_file():
        raise FileNotFoundError(f"no style reference image {args.style_ref}")
    _check_style_ref_options(args, "--style-ref" if args.style_ref is not None else None)
    if args.aspect is not None:
        from ..pipelines.text_to_image import aspect_size

        aspect_size(args.aspect, 1, 1)
    out = Path(args.out)
    paths = [out / name for name in file_names(args.prompts, args.n)]
    claim(args, *paths)
    start = time.perf_counter()
    pipe = _learned_style_base(args) or _load(args.model, args.config, args.pipeline)
    if args.compile:
        pipe.compile()
    resolver = None
    if args.upscale:  # loaded first, so a bad --sr-model fails before any generation
        from ..pipelines.superres import SuperResolutionPipeline

        resolver = SuperResolutionPipeline.load(args.sr_model)
    factor = (resolver.scale if resolver is not None else 1) * args.scale
    if args.aspect is not None:
        from ..pipelines.text_to_image import TextToImagePipeline

        if not isinstance(pipe, TextToImagePipeline):
            raise ValueError("--aspect applies to a text-to-image pipeline, not to --pipeline unclip")
        if resolver is not None:
            raise ValueError("--aspect and --upscale do not combine: the super-resolution model takes square images")
        _, h, w = pipe.frame(args.aspect)
        check_pixels(h * pipe.autoencoder.factor * factor, w * pipe.autoencoder.factor * factor, "each output image")
    else:
        side = pipe.config["image_size"] * factor
        check_pixels(side, side, "each output image")
    loaded = time.perf_counter() - start
    images, info = pipe(list(args.prompts), args.n, seed=args.seed, return_info=True, **_sampling(args, pipe))
    upscaled = 0.0
    if resolver is not None:  # the cascade's second stage (Saharia et al. 2022; Ho et al. 2022): x4 super-resolution
        start = time.perf_counter()
        images = [resolver(image, seed=args.seed + j) for j, image in enumerate(images)]
        upscaled = time.perf_counter() - start
    for image, path in zip(images, paths):
        picture = Image.fromarray(image)
        if args.scale > 1:
            picture = picture.resize((picture.width * args.scale, picture.height * args.scale), Image.NEAREST)
        with atomic_path(path) as tmp:
            picture.save(tmp)
        print(path)
    s = info.settings
    h, w = images[0].shape[:2]
    print(f"{len(images)} images {h}x{w} in {info.seconds + upscaled:.2f} s "
          f"(+ {loaded:.2f} s loading; {s['sampler']}, {s['steps']} steps, guidance {s['guidance']:g}, "
          f"{info.nfe} NFE{f'; upscaled x4 in {upscaled:.2f} s' if args.upscale else ''})")


def _cmd_eval(args) -> None:
    from pathlib import Path

    from ..io.atomic import write_json_atomic
    from ..evaluate import evaluate_text_to_image
    from ..pipelines.text_to_image import shipped_model_path

    count(2 * args.n * len(args.guidance), "images", f"--n {args.n} x 2 kinds x {len(args.guidance)} guidances")
    if (args.styles is not None or args.style_refs is not None) and args.pipeline == "unclip":
        raise ValueError("--styles and --style-refs apply to a text-to-image pipeline, not to --pipeline unclip")
    _check_style_ref_options(args, "--style-refs" if args.style_refs is not None else None)
    if args.eval_stylize is not None and args.styles is None:
        raise ValueError("--stylize sets the strength of the styled rows' style: give --styles")
    claim(args, args.out)
    pipe = _load(args.model, args.config, args.pipeline)
    sampling = _sampling(args, pipe)
    sampling.pop("guidance", None)
    from ..data.shapes import RENDER_STYLES, check_styles

    styles, style_refs = (None if text is None else RENDER_STYLES if text == "all" else
                          check_styles(s.strip() for s in text.split(",")) for text in (args.styles, args.style_refs))
    sampling.update(_style_ref_settings(args, pipe, "--style-refs" if style_refs is not None else None))
    report = evaluate_text_to_image(pipe, args.n, args.guidance, seed=args.seed, prompt_seed=args.prompt_seed,
                                    progress=not args.quiet, styles=styles, style_refs=style_refs,
                                    stylize=args.eval_stylize, **sampling)
    from ..pipelines.unclip import UnCLIPPipeline, shipped_unclip_path

    shipped = shipped_unclip_path() if isinstance(pipe, UnCLIPPipeline) else shipped_model_path(args.pipeline == "styles")
    report["model"] = str(args.model or shipped)
    print(f"{'guidance':>8} {'single':>8} {'pair':>8} {'FD':>8}   (faithfulness: every stated attribute right)")
    for g, row in report["results"].items():
        print(f"{g:>8} {row['single']['all']:8.1%} {row['pair']['all']:8.1%} {row['fd_latent']:8.2f}")
    if styles:
        print(f"\n{'guidance':>8} {'style':>8} {'style ok':>9} {'content single':>15} {'content pair':>13}"
              "   (unstyled prompts: 'flat' is the share the style judge calls flat)")
        for g, row in report["results"].items():
            print(f"{g:>8} {'(none)':>8} {(row['single']['flat'] + row['pair']['flat']) / 2:9.1%} "
                  f"{row['single']['all']:15.1%} {row['pair']['all']:13.1%}")
            for style, r in row["styles"].items():
                print(f"{g:>8} {style:>8} {(r['single']['style'] + r['pair']['style']) / 2:9.1%} "
                      f"{r['single']['content']:15.1%} {r['pair']['content']:13.1%}")
    if style_refs:
        print(f"\n{'guidance':>8} {'ref style':>9} {'style ok':>9} {'content single':>15} {'content pair':>13}"
              f"   (unstyled prompts with a reference image; {report['results'][next(iter(report['results']))]['settings'].get('style_method')})")
        for g, row in report["results"].items():
            for style, r in row["style_refs"].items():
                print(f"{g:>8} {style:>9} {(r['single']['style'] + r['pair']['style']) / 2:9.1%} "
                      f"{r['single']['content']:15.1%} {r['pair']['content']:13.1%}")
    if args.out:
        write_json_atomic(Path(args.out), report)
        print(f"wrote {args.out}")


def _add_style_ref_options(p, option: str) -> None:
    """How a style reference image (``option``) borrows its style."""
    p.add_argument("--style-weight", type=number(0, above=True), default=1.0, metavar="W",
                   help=f"how strongly {option}'s style is borrowed (default 1; more: stronger)")
    p.add_argument("--style-method", choices=("adapter", "shared"), default=None,
                   help=f"how {option} borrows the style: the trained style adapter (IP-Adapter) or shared attention "
                        "(default: the adapter where the pipeline has one)")
    p.add_argument("--style-adapter", default=None, metavar="FILE",
                   help=f"a style adapter file for {option} (difflab train style-adapter; default: the pipeline "
                        "folder's style_adapter.safetensors)")


def _add_common(p) -> None:
    p.add_argument("--model", default=None, help="pipeline folder, a diffusers text-to-image folder, or a single-file "
                   ".safetensors checkpoint with --config (default: the shipped shapes-t2i model)")
    p.add_argument("--config", default=None, metavar="DIR",
                   help="for a single-file checkpoint: the diffusers folder of its model family (configs, tokenizer, "
                        "scheduler; its weights are not read)")
    p.add_argument("--pipeline", choices=("t2i", "styles", "unclip"), default=None,
                   help="t2i (latent text-to-image, the default), styles (the shipped text-to-image pipeline trained "
                        "on five rendering styles: --style outline, striped, pixel, glow, flat; --style-ref) or unclip "
                        "(prior + decoder, in the manner of DALL-E 2); a --model folder says which it is")
    p.add_argument("--prior-guidance", type=number(0), default=None, help="unclip: the prior's guidance scale")
    p.add_argument("--clip-guidance", type=number(0), default=None,
                   help="unclip: the decoder's CLIP guidance towards the prior's embedding (default 0: none)")
    p.add_argument("--candidates", type=positive_int, default=None,
                   help="unclip: prior draws per image, the one closest to the prompt kept (default 2)")
    add_sampler_args(p, sampler=None, steps=None)
    for action in p._actions:  # None: the pipeline folder's defaults (pipeline.json)
        if action.dest in ("sampler", "steps"):
            action.help = f"sampler {action.dest.replace('sampler', 'name')} (default: the pipeline's)"
    p.add_argument("--seed", type=seed, default=0, help="image j uses seed SEED + j (default 0)")
    add_overwrite(p)


def register(sub) -> None:
    gen = sub.add_parser("generate", help="text-to-image: write PNGs for prompts")
    gen.add_argument("prompts", nargs="+", type=text, metavar="PROMPT", help='prompts ("" is unconditional)')
    gen.add_argument("-n", type=positive_int, default=4, help="images per prompt (default 4)")
    gen.add_argument("--guidance", type=number(0), default=None, help="classifier-free guidance scale (1: none)")
    gen.add_argument("--out", default="out", help="folder for the PNGs (default out/)")
    gen.add_argument("--scale", type=positive_int, default=1, help="enlarge the PNGs K times (nearest neighbour)")
    gen.add_argument("--upscale", action="store_true",
                     help="cascade: super-resolve each image x4 with the shipped SR model (64 -> 256)")
    gen.add_argument("--sr-model", default=None, help="super-resolution model folder for --upscale (default: shipped)")
    gen.add_argument("--compile", action="store_true", help="torch.compile the denoiser (pays off from a few batches on)")
    gen.add_argument("--style", type=text, default=None, metavar="WORD",
                     help='draw in this style: the prompt becomes "PROMPT in WORD style" (shipped model: flat, outline, '
                          'striped, pixel, glow), or a learned style: a name in styles/ or a .safetensors file '
                          '(difflab train style)')
    gen.add_argument("--stylize", type=number(0), default=None, metavar="S",
                     help="style strength: 0 = content only, 1 = the styled prompt (default), higher = stronger style "
                          "(a guidance term of its own, S x guidance; one more network evaluation per step)")
    gen.add_argument("--style-sigma", type=_noise_level, default=None, metavar="SIGMA",
                     help="the style acts only at noise levels <= SIGMA, the content alone above it (default: every "
                          "level for a style word, 0.3 for a learned style, REFERENCE_STYLE_SIGMA of "
                          "difflab.pipelines.text_to_image for a --style-ref through a style adapter; inf: every level)")
    gen.add_argument("--keep-colours", action="store_true",
                     help="with --style or --style-ref: keep the colours the prompt gets without them (each image takes "
                          "its hue from the same prompt and seed drawn unstyled; lightness and saturation stay the "
                          "style's; also draws the images unstyled, below the style's level where it acts only there)")
    gen.add_argument("--style-ref", default=None, metavar="IMAGE",
                     help="borrow the style of this image (the pipeline's size): by its trained style adapter where "
                          "it has one, else by shared attention (no training)")
    _add_style_ref_options(gen, "--style-ref")
    gen.add_argument("--aspect", default=None, metavar="W:H",
                     help="frame aspect ratio, e.g. 3:2 (the shorter side stays the model's size; default square)")
    _add_common(gen)
    gen.set_defaults(handler=_cmd_generate)

    ev = sub.add_parser("eval-t2i", help="faithfulness of a text-to-image pipeline, judged on held-out prompts")
    ev.add_argument("-n", "--n", type=positive_int, default=100, help="prompts per kind (single, pair; default 100)")
    ev.add_argument("--guidance", type=number(0), nargs="+", default=[1.0, 3.0, 5.0], help="scales (default 1 3 5)")
    ev.add_argument("--prompt-seed", type=seed, default=None,
                    help="draw another set of prompts (default: the held-out set, EVAL_SEED); "
                         "for choosing settings without looking at the reported prompts")
    ev.add_argument("--styles", default=None, metavar="S1,S2,...|all",
                    help="also judge the same prompts naming each rendering style: style and content accuracy per style")
    ev.add_argument("--stylize", type=number(0), default=None, metavar="S", dest="eval_stylize",
                    help="with --styles: name each style as generate --style STYLE --stylize S does (the pipeline's "
                         "phrasing, the style a guidance term of strength S) instead of in the prompts' words")
    ev.add_argument("--style-refs", default=None, metavar="S1,S2,...|all",
                    help="also judge the unstyled prompts with a reference image in each rendering style (--style-ref): "
                         "style and content accuracy per style")
    _add_style_ref_options(ev, "--style-refs")
    ev.add_argument("--out", default=None, help="write the report as JSON here")
    ev.add_argument("--quiet", action="store_true")
    _add_common(ev)
    ev.set_defaults(handler=_cmd_eval)

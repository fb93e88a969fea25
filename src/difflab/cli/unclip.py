"""``difflab variations``, ``difflab interpolate`` and ``difflab eval-clip``: unCLIP's image side
(Ramesh et al. 2022, sec. 3) and the CLIP encoder's report.

Without ``--model`` the unCLIP pipeline shipped inside the package
(``difflab/assets/shapes-unclip``) is used: nothing is downloaded. Images must have the
pipeline's size (64 x 64 for the shipped one); nothing is resized silently.
"""

from __future__ import annotations

from pathlib import Path

from ._common import (add_model, add_overwrite, add_sampler_args, claim, count, integer, number, numbered_pngs,
                      positive_int, sampler_options, seed, text)


def load_unclip(path):
    """The unCLIP pipeline of ``path`` (the shipped one for None); a one-line error for another kind of folder."""
    import torch

    from ..pipelines.unclip import UnCLIPPipeline, is_unclip_folder, shipped_unclip_path

    folder = Path(str(path if path is not None else shipped_unclip_path()))
    if not folder.is_dir():
        raise FileNotFoundError(f"unCLIP pipeline folder {str(folder)!r} does not exist")
    if not is_unclip_folder(folder):
        raise ValueError(f"{folder} is not an unCLIP pipeline folder (its pipeline.json must say task 'unclip')")
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    return UnCLIPPipeline.load(folder)


def decoder_settings(args) -> dict:
    """The decoder's sampling settings of :func:`add_sampler_args`, ``--guidance`` and ``--clip-guidance``
    (None: the pipeline's)."""
    return {k: v for k, v in {"sampler": args.sampler, "steps": args.steps, "guidance": args.guidance,
                              "clip_guidance": args.clip_guidance, "spacing": args.spacing,
                              **sampler_options(args)}.items() if v is not None}


def _write(images, paths) -> None:
    from PIL import Image

    from ..io.atomic import atomic_path

    for image, path in zip(images, paths):
        with atomic_path(path) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
        print(f"wrote {path}")


def write_frames(frames, out: Path) -> None:
    """Frames (N, H, W, 3) uint8 as one strip PNG (side by side) or an animated GIF (by suffix)."""
    import numpy as np
    from PIL import Image

    from ..io.atomic import atomic_path

    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".gif":
            pictures = [Image.fromarray(f) for f in frames]
            pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=250, loop=0)
        else:
            Image.fromarray(np.concatenate(list(frames), axis=1)).save(tmp, format="PNG")
    print(f"wrote {out}")


def _read_image(path: str):
    """``path``'s pixels, read before any model is loaded (an unreadable image is a one-line error)."""
    from ..masks import load_image

    return load_image(path, "RGB")


def _cmd_variations(args) -> None:
    import numpy as np

    count(args.n, "images")
    paths = numbered_pngs(args.out, 1 if args.strip else args.n)
    claim(args, *paths)
    image = _read_image(args.image)
    pipe = load_unclip(args.model)
    images = pipe.variations(image, args.n, seed=args.seed, invert=args.invert, candidates=args.candidates,
                             **decoder_settings(args))
    if args.strip:  # the source, then its variations
        write_frames(np.concatenate([image[None], images]), paths[0])
    else:
        _write(images, paths)


def _cmd_interpolate(args) -> None:
    count(args.frames, "images", "--frames")
    if (args.image_b is None) == (args.toward is None):
        raise ValueError("give a second image (interpolation) or --toward CAPTION (a text diff), not both or neither")
    if (args.invert or args.candidates is not None or args.pacing is not None) and args.image_b is None:
        flag = "--invert" if args.invert else "--candidates" if args.candidates is not None else "--pacing"
        raise ValueError(f"{flag} is for an interpolation between two images; a text diff (--toward) has one")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".gif"):
        raise ValueError(f"--out must be a .png (a strip) or .gif file, got {args.out!r}")
    claim(args, out)
    a = _read_image(args.image_a)
    b = _read_image(args.image_b) if args.image_b is not None else None
    if args.toward is not None and not args.toward.strip():
        raise ValueError("--toward is empty: give the caption to move the image toward")
    pipe = load_unclip(args.model)
    if b is not None:
        frames, _ = pipe.interpolate(a, b, args.frames, seed=args.seed, invert=args.invert, candidates=args.candidates,
                                     pacing=args.pacing, **decoder_settings(args))
    else:
        frames, _ = pipe.text_diff(a, args.toward, args.source, args.frames, max_angle=args.max_angle,
                                   seed=args.seed, **decoder_settings(args))
    write_frames(frames, out)


def _write_report(out, report: dict) -> None:
    """Write ``report`` as JSON to ``out`` (claimed before the work), if given."""
    from ..io.atomic import write_json_atomic

    if out:
        write_json_atomic(Path(out), report)
        print(f"wrote {out}")


def _cmd_eval_clip(args) -> None:
    from ..evaluate.clip import evaluate_clip
    from ..pipelines.clip import CLIPEncoder, is_clip_folder

    claim(args, args.out)
    folder = Path(args.model)
    if (folder / "clip").is_dir() and is_clip_folder(folder / "clip"):
        folder = folder / "clip"  # an unCLIP pipeline: its encoder
    if not is_clip_folder(folder):
        raise ValueError(f"{args.model} is not a CLIP encoder folder (difflab train clip) nor an unCLIP pipeline")
    report = evaluate_clip(CLIPEncoder.load(folder), args.candidates, args.groups, args.zero_shot)
    report["model"] = str(folder)
    print(f"retrieval among {args.candidates} held-out scenes ({args.groups} sets):")
    for direction in ("text_to_image", "image_to_text"):
        r = report[direction]
        print(f"  {direction.replace('_', ' '):>14}: R@1 {r['r@1']:.1%}  R@5 {r['r@5']:.1%}")
    z = report["zero_shot"]
    print(f"zero-shot on {z['n']} single objects: colour {z['colour']:.1%}  shape {z['shape']:.1%}  "
          f"position {z['position']:.1%}")
    _write_report(args.out, report)


def _cmd_eval_unclip(args) -> None:
    from ..evaluate.unclip import evaluate_interpolation, evaluate_prior, evaluate_variations
    from ..pipelines.unclip import shipped_unclip_path

    claim(args, args.out)
    pipe = load_unclip(args.model)
    settings = decoder_settings(args)
    report = {"model": str(args.model or shipped_unclip_path())}
    report["prior"] = p = evaluate_prior(pipe, args.prior_n, seed=args.seed)
    print(f"prior on {p['n']} held-out captions, cosine to the true image embedding: a draw {p['cosine_prior']:.3f} "
          f"(another image of the caption: {p['cosine_another_image']:.3f}); the mean of {p['draws']} draws "
          f"{p['cosine_prior_mean']:.3f} (of {p['draws']} other images: {p['cosine_other_images_mean']:.3f}); "
          f"the text embedding itself {p['cosine_text_embedding']:.3f}")
    # the inverted runs sample with ddim on the inversion's grid at their own eta: of the decoder's
    # settings they take the steps and the two guidances only
    inverted = {k: v for k, v in settings.items() if k in ("steps", "guidance", "clip_guidance")}
    for invert in (False, True):
        key = "variations_inverted" if invert else "variations"
        report[key] = v = evaluate_variations(pipe, args.variations_n, seed=args.seed, invert=invert,
                                              candidates=args.candidates, **(inverted if invert else settings))
        by_objects = ", ".join(f"{m} object(s) {x:.0%}" for m, x in v["kept_by_objects"].items())
        print(f"{key.replace('_', ' ')}: objects kept {v['kept']['all']:.1%} (colour {v['kept']['colour']:.1%}, "
              f"shape {v['kept']['shape']:.1%}, count {v['kept']['count']:.1%}; the judge on the sources: "
              f"{v['sources_judged']['all']:.1%}; kept of sources with {by_objects}); mean pixel difference "
              f"{v['pixel_difference']:.1f} / 255 to the source, {v['pair_difference']:.1f} between a source's variations")
    for invert in (False, True):
        key = "interpolation_inverted" if invert else "interpolation"
        report[key] = i = evaluate_interpolation(pipe, args.pairs, args.frames, seed=args.seed, invert=invert,
                                                 **(inverted if invert else settings))
        print(f"{key.replace('_', ' ')}, {i['pairs']} pairs x {i['frames']} frames: monotone in CLIP similarity "
              f"{i['monotone']:.0%} (Spearman {i['spearman']:.2f}; a pixel crossfade of the same pairs "
              f"{i['crossfade_monotone']:.0%}); end frames' cosine to their sources {i['ends_cosine']:.3f}, "
              f"their objects kept {i['ends_kept']:.0%}")
    _write_report(args.out, report)


def _cmd_assemble(args) -> None:
    from ..pipelines.unclip_training import assemble_unclip

    import torch

    folder = assemble_unclip(args.clip, args.prior, args.decoder, args.out, overwrite=args.overwrite,
                             dtype=torch.float16 if args.half else None)
    print(f"saved unCLIP pipeline folder {folder}")


def _decoder_args(p) -> None:
    p.add_argument("--model", default=None, help="unCLIP pipeline folder (default: the shipped shapes-unclip)")
    add_sampler_args(p, sampler=None, steps=None)
    p.add_argument("--guidance", type=number(0), default=None, help="the decoder's guidance scale (default: the pipeline's: for variations from fresh noise its "
                        "variation_guidance, 1.5 in the shipped pipeline, else its guidance, 3)")
    p.add_argument("--clip-guidance", type=number(0), default=None,
                   help="the decoder's CLIP guidance towards the image's embedding (0: none; default: the pipeline's)")
    p.add_argument("--seed", type=seed, default=0, help="noise seed (default 0)")
    add_overwrite(p)


def _candidates_arg(p, meaning: str = "decode this many candidates per variation and keep the one whose CLIP "
                    "embedding is nearest the image's (default: the pipeline's variation_candidates, 4 in the "
                    "shipped pipeline; 1: none)") -> None:
    p.add_argument("--candidates", type=positive_int, default=None, help=meaning)


def register(sub) -> None:
    v = sub.add_parser("variations", help="unCLIP: variations of an image (its CLIP embedding decoded with new noise)")
    v.add_argument("image", help="a PNG/JPEG of the pipeline's size")
    v.add_argument("-n", type=positive_int, default=4, help="variations (default 4)")
    v.add_argument("--out", default="variations.png", help="PNG; with -n > 1, NAME-i.png (default variations.png)")
    v.add_argument("--strip", action="store_true", help="write one PNG: the image, then its variations side by side")
    v.add_argument("--invert", action="store_true",
                   help="start from the image's DDIM-inverted noise and sample with DDIM, --eta (default 0.8) "
                        "(keeps the layout)")
    _candidates_arg(v)
    _decoder_args(v)
    v.set_defaults(handler=_cmd_variations)

    i = sub.add_parser("interpolate", help="unCLIP: frames between two images, or from an image toward a caption")
    i.add_argument("image_a", metavar="IMAGE_A")
    i.add_argument("image_b", metavar="IMAGE_B", nargs="?", default=None, help="(omit with --toward)")
    i.add_argument("--toward", type=text, default=None, help="a text diff: move IMAGE_A toward this caption")
    i.add_argument("--source", type=text, default="", help="with --toward: a caption of IMAGE_A (default: none)")
    i.add_argument("--max-angle", type=number(0, 1, above=True), default=0.5,
                   help="with --toward: how far along the slerp to go (0 .. 1; the paper stops at 0.5)")
    i.add_argument("--frames", type=integer(2), default=8, help="frames (default 8)")
    i.add_argument("--invert", action="store_true",
                   help="between two images: start from their DDIM-inverted noises, so the ends reconstruct them "
                        "(DDIM, --guidance defaults to 1)")
    i.add_argument("--out", default="interpolation.png", help="a strip .png or an animated .gif")
    _candidates_arg(i, "between two images: try this many noises and keep the one whose end frames come nearest "
                       "the two images by CLIP (default: the pipeline's interpolation_candidates, 4 in the shipped "
                       "pipeline; 1: the noise of --seed alone)")
    i.add_argument("--pacing", type=positive_int, default=None,
                   help="between two images: decode the path at this many points per frame and show the frames that "
                        "move monotonically from A towards B by CLIP (default: the pipeline's interpolation_pacing, "
                        "2 in the shipped pipeline; 1: frames at even steps)")
    _decoder_args(i)
    i.set_defaults(handler=_cmd_interpolate)

    u = sub.add_parser("eval-unclip", help="unCLIP's prior, variations and interpolations on held-out scenes")
    u.add_argument("--prior-n", type=positive_int, default=500, help="captions for the prior's report (default 500)")
    u.add_argument("--variations-n", type=positive_int, default=100, help="source images (default 100, 2 variations each)")
    u.add_argument("--pairs", type=positive_int, default=20, help="interpolated pairs (default 20)")
    u.add_argument("--frames", type=integer(2), default=8, help="frames per interpolation (default 8)")
    u.add_argument("--out", default=None, help="write the report as JSON here")
    _candidates_arg(u)
    _decoder_args(u)
    u.set_defaults(handler=_cmd_eval_unclip)

    a = sub.add_parser("assemble-unclip", help="write an unCLIP pipeline folder from a CLIP encoder (train clip), "
                       "a prior (train prior) and a decoder (train decoder)")
    a.add_argument("--clip", required=True, help="CLIP encoder folder")
    a.add_argument("--prior", required=True, help="prior folder")
    a.add_argument("--decoder", required=True, help="decoder folder")
    a.add_argument("--out", required=True, help="the pipeline folder to write")
    a.add_argument("--half", action="store_true", help="store the weights in float16 (half the size, to ship; "
                   "loading casts them back to float32)")
    add_overwrite(a, "replace the pipeline in --out")
    a.set_defaults(handler=_cmd_assemble)

    e = sub.add_parser("eval-clip", help="retrieval and zero-shot accuracy of a CLIP encoder on held-out scenes")
    add_model(e, "a CLIP encoder folder or an unCLIP pipeline folder")
    e.add_argument("--candidates", type=positive_int, default=100, help="scenes per retrieval set (default 100)")
    e.add_argument("--groups", type=positive_int, default=10, help="retrieval sets (default 10)")
    e.add_argument("--zero-shot", type=positive_int, default=300, help="single-object scenes (default 300)")
    e.add_argument("--out", default=None, help="write the report as JSON here")
    add_overwrite(e)
    e.set_defaults(handler=_cmd_eval_clip)


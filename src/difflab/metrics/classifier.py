"""A small image classifier: the feature extractor of ``difflab eval``.

FID measures samples in the features of an ImageNet Inception network; for
28x28 digits those features are a poor fit (and the weights are not at hand
offline). As is common for MNIST-scale work, we train a small CNN on the
model's own *training* split and use (a) its 64-d penultimate activations for a
Frechet distance (:mod:`difflab.metrics.frechet`) and (b) its predicted class
for the accuracy of class-conditional samples.

Deterministic: the same data config gives the same weights (fixed seed,
single-process training), and the result is cached on disk under
``$DIFFLAB_CACHE`` (default ``~/.cache/difflab``), keyed by a hash of the data
config and the recipe, so every evaluation of every model of one dataset uses
the same extractor. Its held-out accuracy is stored beside it and reported.

Recipe: two stages of two 3x3 conv + BatchNorm + ReLU blocks (32 then 64
channels), each followed by 2x2 max-pooling; adaptive average pooling to 4x4,
dropout 0.3, a 64-unit ReLU layer (the features) and a linear head. AdamW lr
2e-3 with cosine decay, batch 128, at least 10 epochs and 400 steps, random
translations of up to 1/14 of the image side (2 pixels at 28x28, 1 at 8x8).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..io.atomic import write_text_atomic

__all__ = ["FeatureClassifier", "feature_classifier", "train_classifier", "cache_dir"]

RECIPE = {"version": 2, "widths": [32, 64], "features": 64, "min_steps": 400, "min_epochs": 10, "batch_size": 128,
          "lr": 2e-3, "shift": 1 / 14, "seed": 0}


def cache_dir() -> Path:
    """Where trained extractors are kept: ``$DIFFLAB_CACHE`` or ``~/.cache/difflab``."""
    return Path(os.environ.get("DIFFLAB_CACHE") or Path.home() / ".cache" / "difflab")


def _conv(a: int, b: int) -> list[nn.Module]:
    return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]


class FeatureClassifier(nn.Module):
    """CNN with a ``features(x)`` method (the 64-d embedding) and logits from ``forward``."""

    def __init__(self, in_channels: int, num_classes: int, widths=(32, 64), features: int = 64) -> None:
        super().__init__()
        c1, c2 = widths
        self.body = nn.Sequential(
            *_conv(in_channels, c1), *_conv(c1, c1), nn.MaxPool2d(2, ceil_mode=True),
            *_conv(c1, c2), *_conv(c2, c2), nn.MaxPool2d(2, ceil_mode=True),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Dropout(0.3), nn.Linear(16 * c2, features), nn.ReLU(),
        )
        self.head = nn.Linear(features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def embed(self, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, predicted class) of images ``x`` in the model range, in batches."""
        self.eval()
        feats = torch.cat([self.features(x[i:i + batch_size].float()) for i in range(0, len(x), batch_size)])
        return feats, self.head(feats).argmax(dim=1)


def _shift(x: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """Random translation of each image by up to ``k`` pixels (edge padding)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (k, k, k, k), mode="replicate")
    dy = torch.randint(0, 2 * k + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * k + 1, (n,), generator=g)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, x.shape[1], h, w + 2 * k)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, x.shape[1], h, w)
    return out.gather(3, cols)


def train_classifier(train, test, num_classes: int, recipe: dict = RECIPE, progress: bool = True):
    """Train a :class:`FeatureClassifier` on ``train`` (images, labels); return it and its
    accuracy on ``test``. Deterministic: initialisation and dropout use a private copy
    of the global RNG seeded from the recipe (the caller's RNG state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe["seed"])
        return _train_classifier(train, test, num_classes, recipe, progress)


def _train_classifier(train, test, num_classes, recipe, progress):
    from tqdm.auto import tqdm

    images, labels = train
    net = FeatureClassifier(images.shape[1], num_classes, recipe["widths"], recipe["features"])
    g = torch.Generator().manual_seed(recipe["seed"])
    steps_per_epoch = -(-len(images) // recipe["batch_size"])
    epochs = max(recipe["min_epochs"], -(-recipe["min_steps"] // steps_per_epoch))
    total = epochs * steps_per_epoch
    shift = max(1, round(recipe["shift"] * images.shape[-1])) if recipe["shift"] else 0
    opt = torch.optim.AdamW(net.parameters(), lr=recipe["lr"], weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    net.train()
    bar = tqdm(total=total, desc="train feature classifier", disable=not progress, leave=False)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=g)
        for i in range(0, len(images), recipe["batch_size"]):
            index = order[i:i + recipe["batch_size"]]
            x = _shift(images[index], shift, g) if shift else images[index]
            loss = F.cross_entropy(net(x), labels[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
    bar.close()
    _, predicted = net.embed(test[0])
    return net, float((predicted == test[1]).float().mean())


def _key(data_cfg: dict, recipe: dict) -> str:
    identity = {k: data_cfg.get(k) for k in ("name", "shape", "transform", "classes", "split", "args")}
    return hashlib.sha256(json.dumps([identity, recipe], sort_keys=True).encode()).hexdigest()[:16]


def feature_classifier(data_cfg: dict, *, progress: bool = True, cache: Path | None = None,
                       recipe: dict = RECIPE, fold: int | None = None) -> tuple[FeatureClassifier, dict]:
    """The extractor for the dataset a model's config describes (its ``data`` entry):
    loaded from the cache, or trained on the dataset's training split by ``recipe``
    and cached. Returns ``(net, info)``; ``info`` names the extractor and its
    held-out accuracy.

    ``fold``: the extractor of a *tuning* score instead, trained on the training split less its
    tuning fold number ``fold`` (:func:`difflab.data.images.tuning_folds`), so that it has not
    seen the images the score compares against, as the report's extractor has not seen the
    held-out split."""
    from ..data.images import train_test, tuning_folds
    from ..io.folders import check_state_dict, load_weights, save_weights

    if not data_cfg.get("num_classes"):
        raise ValueError(f"the feature classifier needs a dataset with classes; {data_cfg.get('name')!r} has none")
    trained_on = recipe if fold is None else {**recipe, "trained_on": f"training split less tuning fold {fold}"}
    key = _key(data_cfg, trained_on)
    folder = Path(cache or cache_dir()) / "classifiers"
    stem = f"{data_cfg['name']}-{'' if fold is None else f'fold{fold}-'}{key}"
    weights, meta = folder / f"{stem}.safetensors", folder / f"{stem}.json"
    net = FeatureClassifier(data_cfg["shape"][0], data_cfg["num_classes"], recipe["widths"], recipe["features"])
    if weights.is_file() and meta.is_file():
        state = load_weights(weights)
        check_state_dict(state, net.state_dict(), weights, "the feature classifier")
        net.load_state_dict(state)
        info = json.loads(meta.read_text())
    else:
        train, test = train_test(data_cfg["name"], **data_cfg.get("args", {}))
        if fold is not None:
            train, _ = tuning_folds(train, test)[fold]
        net, accuracy = train_classifier(train, test, data_cfg["num_classes"], recipe, progress)
        split = "training split" if fold is None else f"training split less its tuning fold {fold}"
        info = {"name": f"difflab small CNN on the {data_cfg['name']} {split}", "feature_dim": recipe["features"],
                "test_accuracy": accuracy, "recipe": recipe, "key": key}
        save_weights(weights, net.state_dict())
        write_text_atomic(meta, json.dumps(info, indent=2))
    info = {**info, "path": str(weights)}
    return net.eval(), info

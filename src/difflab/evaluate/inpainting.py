"""The inpainting evaluation (``difflab eval-inpaint``): mask half of each held-out image,
complete it, and ask the feature classifier whether the completion still shows the
original class, beside the classifier on the intact images and on the half-masked
images with the hole left at the background value."""

from __future__ import annotations

import time

import torch

from ..metrics.classifier import feature_classifier

__all__ = ["evaluate_inpainting", "half_masks"]


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
                        jump_n_sample: int = 10, sampler: str = "ddpm", seed: int = 0, sides=("left", "right"),
                        label: str = "infer", guidance: float = 3.0, batch_size: int = 100, progress: bool = True,
                        **options) -> dict:
    """Mask half of each of ``n`` held-out images, inpaint it with the image model
    folder ``model`` and ask the feature classifier whether the completion still shows
    the original class. Reported beside two references: the classifier on the intact
    images and on the half-masked images with the hole left at the background value.

    ``label``: ``"infer"`` reads each image's class off its visible half with the model
    itself (:func:`difflab.tasks.classify.infer_label`, never the true label) and completes it
    with the class-conditional model at ``guidance`` (1: plain conditional);
    ``"null"`` completes with the unconditional model (the null label)."""
    from tqdm.auto import tqdm

    from ..data.images import train_test
    from ..pipelines.image import ImagePipeline
    from ..samplers import sample
    from ..tasks.classify import infer_label
    from ..tasks.inpaint import METHODS, Inpainter, repaint

    pipe = ImagePipeline.load(model)
    if not pipe.num_classes:
        raise ValueError(f"{model}: inpainting is scored by class, so it needs an image model of a dataset with classes")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of: {', '.join(METHODS)}")
    denoiser, data = pipe.denoiser, pipe.data
    _, test = train_test(data["name"], **data.get("args", {}))
    index = torch.randperm(len(test.images), generator=torch.Generator().manual_seed(seed))[:n]
    images, labels = test.images[index], test.labels[index]
    n = len(images)
    masks, names = half_masks(n, images.shape[1:], sides)
    if label not in ("infer", "null"):
        raise ValueError(f"label must be 'infer' or 'null', got {label!r}")
    # "null": the unconditional model (guidance 0 calls only the null-label branch)
    guided = pipe.guided(guidance if label == "infer" else 0.0)
    chosen = pipe.labels(n, cycle=False)
    out, nfe = [], 0
    start = time.perf_counter()
    with tqdm(total=n, desc=f"inpaint ({method})", unit="img", disable=not progress, leave=False) as bar:
        for b in range(0, n, batch_size):
            sl = slice(b, b + batch_size)
            if label == "infer":
                chosen[sl] = infer_label(denoiser, images[sl], masks[sl], pipe.num_classes, generator=seed + b)[0]
            cond = {"labels": chosen[sl]}
            if method == "repaint":
                x, info = repaint(guided, images[sl], masks[sl], steps, jump_length=jump_length,
                                  jump_n_sample=jump_n_sample, sampler=sampler, generator=seed + b, cond=cond,
                                  return_info=True, **options)
            else:
                x, info = sample(Inpainter(guided, images[sl], masks[sl], generator=seed + b), images[sl].shape, sampler, steps,
                                 generator=seed + b, cond=cond, return_info=True, **options)
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

"""The contrastive loss of a dual encoder (Radford et al. 2021) as a :class:`~difflab.train.loop.Loss` of ``fit``."""

from __future__ import annotations

import torch

from ..losses import contrastive_loss

__all__ = ["ContrastiveLoss"]


class ContrastiveLoss:
    """:func:`difflab.losses.contrastive_loss` of a :class:`~difflab.nets.contrastive.DualEncoder`
    on paired (image, caption) batches, as :func:`~difflab.train.fit`'s ``loss``.

    ``draw_batch`` returns ``(images, cond)`` with ``cond`` holding ``tokens`` and
    ``mask`` (the caption's token states) and the integer ids ``scene`` and ``caption``:
    two samples of a batch with the same scene or the same caption text are both right
    for each other (the loss's ``positives``). Nothing random is drawn.

    The loss is a mean over the batch but not a sum of per-sample terms: each sample's
    negatives are the rest of its micro-batch. Gradient accumulation and data-parallel
    shards therefore train on smaller sets of negatives than one batch would, as in CLIP
    implementations that do not gather embeddings across processes; resume stays exact.
    """

    config: dict = {"loss": "contrastive"}

    def draw(self, x0: torch.Tensor, cond: dict, generator: torch.Generator) -> tuple[dict, dict]:
        missing = {"tokens", "mask", "scene", "caption"} - set(cond)
        if missing:
            raise ValueError(f"the contrastive loss needs cond keys {sorted(missing)}")
        return cond, {}

    def __call__(self, net, x0: torch.Tensor, cond: dict, noise: dict):
        image, text, scale = net(x0, cond["tokens"], cond["mask"])
        scene, caption = cond["scene"], cond["caption"]
        positives = (scene[:, None] == scene[None]) | (caption[:, None] == caption[None])
        loss = contrastive_loss(image, text, scale, positives)
        with torch.no_grad():
            hit = (image @ text.T).argmax(1)
            acc = positives[torch.arange(len(hit), device=hit.device), hit].float().mean()
        return loss, {"scale": scale.detach(), "acc": acc}

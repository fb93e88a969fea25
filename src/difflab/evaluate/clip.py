"""The CLIP encoder's report (``difflab eval-clip``): retrieval among held-out captioned scenes and
zero-shot attribute accuracy (Radford et al. 2021, sec. 3.1)."""

from __future__ import annotations

import torch

__all__ = ["evaluate_clip", "recall_at"]


def recall_at(similarity: torch.Tensor, ks=(1, 5)) -> dict:
    """Recall@k of a square similarity matrix (queries x candidates) whose right answer for
    query i is candidate i: the share of queries whose right candidate ranks among the
    top k (ties count against it)."""
    right = similarity.diagonal()[:, None]
    rank = (similarity > right).sum(1) + (similarity == right).sum(1) - 1  # 0 = strictly first
    return {f"r@{k}": float((rank < k).float().mean()) for k in ks}


def evaluate_clip(clip, candidates: int = 100, groups: int = 10, zero_shot: int = 300,
                  seed: int | None = None) -> dict:
    """Retrieval and zero-shot accuracy of ``clip`` (a :class:`~difflab.pipelines.clip.CLIPEncoder`)
    on held-out scenes (stream ``EVAL_SEED``, or ``seed``), never seen in training.

    - Retrieval: ``groups`` disjoint sets of ``candidates`` scenes with their own captions;
      text->image recall@k ranks the set's images for each caption, image->text its
      captions for each image; averaged over the sets. Two scenes of a set that one
      caption fits equally count against the encoder (strict).
    - Zero-shot: the first ``zero_shot`` single-object scenes, each classified by colour,
      shape and position among the classes of
      :func:`~difflab.pipelines.clip.class_prompts` (prompt ensembles).
    """
    import numpy as np

    from ..data.shapes import EVAL_SEED, make_scene, render, to_tensor
    from ..pipelines.clip import class_prompts

    seed = EVAL_SEED if seed is None else int(seed)
    size = clip.net.image_size
    n = candidates * groups
    scenes = [make_scene(seed, i) for i in range(n)]
    u = clip.encode_image(to_tensor(np.stack([render(s, size) for s in scenes])))
    w = clip.encode_text([s.caption for s in scenes])
    t2i, i2t = [], []
    for g in range(groups):
        part = slice(g * candidates, (g + 1) * candidates)
        sim = w[part] @ u[part].T  # captions x images
        t2i.append(recall_at(sim))
        i2t.append(recall_at(sim.T))
    report = {"seed": seed, "candidates": candidates, "groups": groups,
              "text_to_image": {k: float(np.mean([r[k] for r in t2i])) for k in t2i[0]},
              "image_to_text": {k: float(np.mean([r[k] for r in i2t])) for k in i2t[0]}}

    singles, i = [], n
    while len(singles) < zero_shot:
        s = make_scene(seed, i)
        if len(s.objects) == 1:
            singles.append(s)
        i += 1
    images = to_tensor(np.stack([render(s, size) for s in singles]))
    truth = {"colour": [s.objects[0].colour for s in singles], "shape": [s.objects[0].shape for s in singles],
             "position": [s.position for s in singles]}
    report["zero_shot"] = {"n": zero_shot}
    for attribute, labels in truth.items():
        classes = class_prompts(attribute)
        names = list(classes)
        guess = clip.zero_shot(images, classes).argmax(1).tolist()
        report["zero_shot"][attribute] = float(np.mean([names[k] == y for k, y in zip(guess, labels)]))
    return report

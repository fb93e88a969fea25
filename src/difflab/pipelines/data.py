"""Training data of the shapes text-to-image recipe: rendered scenes, their latents and encoded captions.

Everything is drawn from :mod:`difflab.data.shapes` (stream ``TRAIN_SEED``), so
nothing is downloaded and the same seed gives the same data on any machine.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..data.shapes import TRAIN_SEED, all_captions, render, make_scene, to_tensor

__all__ = ["shapes_image_draw", "render_training_set", "encode_captions"]

#: scenes of the training stream that random draws pick from (far more than are ever used)
_POOL = 10**9


def shapes_image_draw(size: int = 32, seed: int = TRAIN_SEED):
    """``draw(n, generator)`` -> (n, 3, size, size) images in [-1, 1]: scenes of stream
    ``seed`` at indices drawn from ``generator`` (the autoencoder trainer's data)."""

    def draw(n: int, generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, _POOL, (n,), generator=generator).tolist()
        return to_tensor(np.stack([render(make_scene(seed, i), size) for i in index]))

    return draw


def render_training_set(n: int, size: int = 32, seed: int = TRAIN_SEED) -> tuple[torch.Tensor, list[list[str]]]:
    """Scenes 0 .. n-1 of stream ``seed``: images (n, 3, size, size) in [-1, 1] and, per
    scene, every phrasing of it (:func:`~difflab.data.shapes.all_captions`; the
    scene's own caption is one of them), for caption augmentation."""
    scenes = [make_scene(seed, i) for i in range(n)]
    images = to_tensor(np.stack([render(s, size) for s in scenes]))
    return images, [[c for c, _ in all_captions(s)] for s in scenes]


@torch.no_grad()
def encode_captions(text_encoder, captions: Sequence[str], batch_size: int = 256,
                    progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode distinct ``captions`` once: (tokens (K, L, D) float16 cut to the longest
    caption's length L, mask (K, L) bool). Row k belongs to ``captions[k]``."""
    from tqdm.auto import tqdm

    tokens, masks = [], []
    for i in tqdm(range(0, len(captions), batch_size), desc="encode captions", disable=not progress):
        emb = text_encoder.encode(list(captions[i:i + batch_size]))
        tokens.append(emb.tokens.half())
        masks.append(emb.mask)
    mask = torch.cat(masks)
    length = int(mask.sum(1).max())
    return torch.cat([t[:, :length] for t in tokens]), mask[:, :length].contiguous()

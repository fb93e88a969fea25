"""Training data of the shapes text-to-image recipe: rendered scenes, their latents and encoded captions.

Everything is drawn from :mod:`difflab.data.shapes` (stream ``TRAIN_SEED``), so
nothing is downloaded and the same seed gives the same data on any machine.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..data.shapes import TRAIN_SEED, all_captions, render, make_scene, to_tensor

__all__ = ["shapes_image_draw", "render_scenes", "render_training_set", "encode_captions"]

#: scenes of the training stream that random draws pick from (far more than are ever used)
_POOL = 10**9


def shapes_image_draw(size: int = 32, seed: int = TRAIN_SEED, pool: int | None = None, workers: int = 1,
                      styles: Sequence[str] | None = None):
    """``draw(n, generator)`` -> (n, 3, size, size) images in [-1, 1]: scenes of stream
    ``seed`` (in rendering ``styles``, see :func:`~difflab.data.shapes.make_scene`) at
    indices drawn from ``generator`` (the autoencoder trainer's data).

    ``pool=None`` renders every drawn scene on the spot (indices in [0, 10^9): an endless
    stream). ``pool=N`` renders scenes 0 .. N-1 once (on ``workers`` processes) and
    draws from them: for a fast accelerator, whose steps would otherwise wait on the
    renderer."""
    if pool is not None:
        images = torch.from_numpy(render_scenes(range(pool), size, seed, workers, styles=styles)[0])

        def draw_pool(n: int, generator: torch.Generator) -> torch.Tensor:
            index = torch.randint(0, pool, (n,), generator=generator)
            return to_tensor(images[index].numpy())

        return draw_pool

    def draw(n: int, generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, _POOL, (n,), generator=generator).tolist()
        return to_tensor(np.stack([render(make_scene(seed, i, styles), size) for i in index]))

    return draw


def _render_chunk(job: tuple) -> tuple[np.ndarray, list[list[str]]]:
    seed, indices, size, captions, styles = job
    scenes = [make_scene(seed, i, styles) for i in indices]
    images = np.stack([render(s, size) for s in scenes]) if size else np.zeros((len(scenes), 0, 0, 3), np.uint8)
    return images, ([[c for c, _ in all_captions(s)] for s in scenes] if captions else [])


def render_scenes(indices: Sequence[int], size: int = 32, seed: int = TRAIN_SEED, workers: int = 1,
                  captions: bool = False, styles: Sequence[str] | None = None) -> tuple[np.ndarray, list[list[str]]]:
    """Scenes ``indices`` of stream ``seed`` (in rendering ``styles``): uint8 images (n, size,
    size, 3) (``size=0``: none) and, with ``captions=True``, every phrasing of each scene.
    ``workers > 1`` renders chunks in that many processes; the result does not depend on it."""
    if workers < 1:
        raise ValueError(f"workers must be positive, got {workers}")
    indices = list(indices)
    chunk = max(1, -(-len(indices) // (4 * workers)))
    styles = tuple(styles) if styles is not None else None
    jobs = [(seed, indices[i:i + chunk], size, captions, styles) for i in range(0, len(indices), chunk)]
    if workers == 1 or len(jobs) == 1:
        parts = [_render_chunk(j) for j in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as ex:
            parts = list(ex.map(_render_chunk, jobs))
    if not parts:
        return np.zeros((0, size, size, 3), np.uint8), []
    return np.concatenate([p[0] for p in parts]), [c for p in parts for c in p[1]]


def render_training_set(n: int, size: int = 32, seed: int = TRAIN_SEED, workers: int = 1,
                        styles: Sequence[str] | None = None) -> tuple[torch.Tensor, list[list[str]]]:
    """Scenes 0 .. n-1 of stream ``seed`` (in rendering ``styles``): images (n, 3, size, size)
    in [-1, 1] and, per scene, every phrasing of it (:func:`~difflab.data.shapes.all_captions`;
    the scene's own caption is one of them), for caption augmentation."""
    images, captions = render_scenes(range(n), size, seed, workers, captions=True, styles=styles)
    return to_tensor(images), captions


@torch.no_grad()
def encode_captions(text_encoder, captions: Sequence[str], batch_size: int = 256,
                    progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode distinct ``captions`` once: (tokens (K, L, D) float16 cut to the longest
    caption's length L, mask (K, L) bool). Row k belongs to ``captions[k]``."""
    from tqdm.auto import tqdm

    tokens, masks = [], []
    for i in tqdm(range(0, len(captions), batch_size), desc="encode captions", disable=not progress):
        emb = text_encoder.encode(list(captions[i:i + batch_size]))
        tokens.append(emb.tokens.half().cpu())
        masks.append(emb.mask.cpu())
    mask = torch.cat(masks)
    length = int(mask.sum(1).max())
    return torch.cat([t[:, :length] for t in tokens]), mask[:, :length].contiguous()

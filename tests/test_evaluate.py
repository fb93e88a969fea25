"""Evaluation: Frechet distance against closed forms, the memorisation rate, the
cached feature classifier and ``difflab eval`` end to end (on the 8x8 digits)."""

import json

import numpy as np
import pytest
import torch

from difflab.cli import main
from difflab.data.images import dataset_config, train_test
from difflab.evaluate import evaluate_samples
from difflab.metrics.classifier import RECIPE, feature_classifier
from difflab.metrics.frechet import frechet_distance, frechet_from_stats
from difflab.metrics.memorisation import memorisation_rate, nearest_neighbour_ratio


def test_frechet_diagonal_closed_form():
    # commuting (diagonal) covariances: d^2 = |m1 - m2|^2 + sum (sqrt a - sqrt b)^2
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_from_stats(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_frechet_general_matches_matrix_square_root():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    c1, c2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    expected = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy_linalg.sqrtm(c1 @ c2).real)
    assert frechet_from_stats(m1, c1, m2, c2) == pytest.approx(expected, rel=1e-8)
    assert frechet_from_stats(m2, c2, m1, c1) == pytest.approx(expected, rel=1e-8)  # symmetric
    assert frechet_from_stats(m1, c1, m1, c1) == pytest.approx(0, abs=1e-9)


def test_frechet_of_samples_is_consistent():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20000, 3, generator=g), torch.randn(20000, 3, generator=g) * 2 + 1
    # N(0, I) vs N(1, 4I): 3 * 1 + 3 * (1 - 2)^2 = 6
    assert frechet_distance(x, y) == pytest.approx(6.0, rel=0.03)
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(x[:1], y)


def test_memorisation_rate_flags_copies_only():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(500, 1, 6, 6, generator=g)
    copies = train[:40] + 0.01 * torch.randn(40, 1, 6, 6, generator=g)
    fresh = torch.randn(40, 1, 6, 6, generator=g)
    assert memorisation_rate(copies, train) == 1.0
    assert memorisation_rate(fresh, train) == 0.0
    ratio, nearest = nearest_neighbour_ratio(copies, train)
    assert torch.equal(nearest, torch.arange(40))
    with pytest.raises(ValueError, match="differ in shape"):
        memorisation_rate(fresh[:, :, :3], train)


@pytest.mark.slow
def test_feature_classifier_is_accurate_and_cached():
    cfg = dataset_config("digits")
    net, info = feature_classifier(cfg, progress=False)
    assert info["test_accuracy"] > 0.95 and info["feature_dim"] == 64
    again, info2 = feature_classifier(cfg, progress=False)  # from the cache
    assert info2 == info
    for (k, v), w in zip(net.state_dict().items(), again.state_dict().values()):
        assert torch.equal(v, w), k


def test_feature_classifier_is_deterministic(tmp_path):
    cfg = dataset_config("digits")
    quick = {**RECIPE, "min_steps": 20, "min_epochs": 1}
    first, info = feature_classifier(cfg, progress=False, cache=tmp_path / "a", recipe=quick)
    second, _ = feature_classifier(cfg, progress=False, cache=tmp_path / "b", recipe=quick)  # trained anew
    for (k, v), w in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(v, w), k
    path = tmp_path / "b" / "classifiers" / (info["path"].rsplit("/", 1)[-1])
    path.write_bytes(b"garbage")  # a corrupt cached file names itself
    with pytest.raises(ValueError, match="not a readable safetensors"):
        feature_classifier(cfg, progress=False, cache=tmp_path / "b", recipe=quick)


def test_a_fold_classifier_is_trained_without_its_tuning_fold(tmp_path, monkeypatch):
    """``feature_classifier(fold=k)`` trains on the training split less tuning fold k (the images the
    tuning score compares against), cached apart from the report's classifier."""
    import difflab.metrics.classifier as C
    from difflab.data.images import tuning_folds

    cfg = dataset_config("digits")
    quick = {**RECIPE, "min_steps": 2, "min_epochs": 1}
    seen = []
    train_classifier = C.train_classifier

    def recording(train, *args, **kwargs):
        seen.append(train)
        return train_classifier(train, *args, **kwargs)

    monkeypatch.setattr(C, "train_classifier", recording)
    _, report = feature_classifier(cfg, progress=False, cache=tmp_path, recipe=quick)
    _, tuning = feature_classifier(cfg, progress=False, cache=tmp_path, recipe=quick, fold=3)
    train, test = train_test("digits")
    rest, fold = tuning_folds(train, test)[3]
    assert torch.equal(seen[0].images, train.images) and torch.equal(seen[1].images, rest.images)
    assert report["path"] != tuning["path"] and "tuning fold 3" in tuning["name"]
    feature_classifier(cfg, progress=False, cache=tmp_path, recipe=quick, fold=3)
    assert len(seen) == 2  # cached


def test_the_tuning_objective_reads_the_folds_as_the_report_reads_the_held_out_split(tmp_path, monkeypatch):
    """``frechet_objective``: the mean over the tuning folds of the FD to each fold in the features of
    the classifier of the rest, of the samples clipped to the data range as the report clips them."""
    import functools

    import difflab.evaluate.images as E
    from difflab.data.images import tuning_folds

    cfg = dataset_config("digits")
    quick = {**RECIPE, "min_steps": 2, "min_epochs": 1}
    monkeypatch.setattr(E, "feature_classifier", functools.partial(feature_classifier, cache=tmp_path, recipe=quick))
    score = E.frechet_objective(cfg)
    train, test = train_test("digits")
    folds = tuning_folds(train, test)
    x = test.images * 1.5
    expected = sum(frechet_distance(E.feature_classifier(cfg, fold=k)[0].embed(x.clamp(-1, 1))[0],
                                    E.feature_classifier(cfg, fold=k)[0].embed(fold.images)[0])
                   for k, (_, fold) in enumerate(folds)) / len(folds)
    assert score(x) == pytest.approx(expected, rel=1e-6) and score(x) == score(x.clamp(-1, 1))
    assert score(x) != pytest.approx(score(x * 0.5), rel=1e-3)
    assert score.name.startswith("fd-tuning-folds (digits: mean over 8 folds of 180 training images")


def test_evaluate_samples_real_vs_noise():
    cfg = dataset_config("digits")
    train, test = train_test("digits")
    real = evaluate_samples(test.images, test.labels, cfg, fid=False, progress=False)
    g = torch.Generator().manual_seed(0)
    noise = evaluate_samples(torch.rand(test.images.shape, generator=g) * 2 - 1, test.labels, cfg, fid=False,
                             progress=False)
    assert real["fd"] < 0.2 * noise["fd"]
    assert real["classifier_accuracy"] == pytest.approx(real["classifier_accuracy_real_test"])
    assert noise["classifier_accuracy"] < 0.5
    copies = evaluate_samples(train.images[:200], train.labels[:200], cfg, fid=False, progress=False)
    assert copies["memorisation"]["rate"] == 1.0 and real["memorisation"]["rate"] < 0.1
    assert any("n=" in w for w in real["warnings"])  # 180 held-out images is a small n


def test_eval_command(tmp_path, capsys):
    folder = tmp_path / "digits"
    assert main(["train", "image", "--data", "digits", "--steps", "4", "--channels", "16", "--batch-size", "8",
                 "--out", str(folder), "--quiet"]) == 0
    assert main(["eval", str(folder), "-n", "30", "--steps", "3", "--batch-size", "16", "--no-fid", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "FD" in out and "classifier accuracy" in out and "memorisation" in out and "warning: n=30" in out
    result = json.loads((folder / "eval.json").read_text())
    for key in ("n", "seeds", "sampler", "nfe", "extractor", "fd", "fd_real_floor", "classifier_accuracy",
                "memorisation", "guidance", "warnings"):
        assert key in result, key
    assert result["n"] == 30 and result["nfe"] == 3 and result["extractor"]["feature_dim"] == 64
    # the same seed gives the same samples whatever the batch size
    assert main(["eval", str(folder), "-n", "30", "--steps", "3", "--batch-size", "7", "--no-fid", "--quiet",
                 "--out", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["fd"] == pytest.approx(result["fd"], rel=1e-4)
    assert main(["eval", str(tmp_path / "nothing"), "-n", "4"]) == 2
    assert main(["show", "reverse", str(folder), "--steps", "4", "--panels", "3", "-n", "3",
                 "--out", str(tmp_path / "traj.png")]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "traj.png").size[1] > 6 * 8
    gif = Image.open(tmp_path / "traj.gif")
    assert gif.n_frames == 5  # 4 steps and the final sample

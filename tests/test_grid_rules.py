"""The grids samplers get by default (issue 17): sigma_data read from the model, grids optimized
for one model and stored in its folder, the random mixtures they are validated on."""

import json
import math

import pytest
import torch

import difflab
from difflab.grids import data_scale_from_evaluation, data_scale_from_samples, make_grid
from difflab.models import GaussianMixture, random_mixture
from difflab.samplers import optimize_grid, sample
from difflab.samplers.optimize import CALIBRATION_NOISE_SEED
from difflab.schedules import DiscreteSchedule
from difflab.tensors import randn

LINEAR = DiscreteSchedule("linear", 1000)
F64 = torch.float64


class Bare:
    """A model as a function with a schedule: nothing declared but D(x; sigma)."""

    schedule = LINEAR

    def __init__(self, mix: GaussianMixture, noise: float = 0.0):
        self.mix, self.noise, self.calls = mix, noise, 0

    def __call__(self, x, sigma, **cond):
        self.calls += 1
        s = float(torch.as_tensor(sigma).reshape(-1)[0])
        a = 1.0 / math.sqrt(1.0 + s * s)
        d = self.mix.posterior_mean(x * a, a, s * a)
        if self.noise:
            d = d + self.noise * torch.randn(d.shape, generator=torch.Generator().manual_seed(10_000 + self.calls), dtype=d.dtype)
        return d


def test_random_mixture_is_a_function_of_its_seed_and_spans_the_family():
    a, b = random_mixture(7), random_mixture(7)
    assert torch.equal(a.means, b.means) and torch.equal(a.covariances, b.covariances)
    mixes = [random_mixture(s) for s in range(40)]
    dims = [m.dim for m in mixes]
    scales = [m.data_std for m in mixes]
    assert min(dims) >= 2 and max(dims) <= 256 and max(dims) / min(dims) > 20
    assert max(scales) / min(scales) > 30, "scales over about two decades"
    assert {m.n_components for m in mixes} <= set(range(2, 17))
    assert any(not m._diagonal for m in mixes) and any(m._diagonal for m in mixes)


@pytest.mark.parametrize("seed", [1, 4])
def test_data_std_is_the_samples_std(seed):
    m = random_mixture(seed)
    x = m.sample(200_000, 0)
    empirical = math.sqrt(float(x.var(0).mean()))
    assert empirical == pytest.approx(m.data_std, rel=0.02)


def test_sigma_data_read_is_exact_for_gaussian_data():
    s, dim = 0.37, 16
    mix = GaussianMixture([1.0], 0.3 * torch.ones(1, dim, dtype=F64), torch.tensor([s * s], dtype=F64))
    sigma = float(LINEAR.ve_sigma_max)
    x = torch.randn(8, dim, generator=torch.Generator().manual_seed(0), dtype=F64) * sigma
    d = Bare(mix)(x, sigma)
    read = data_scale_from_evaluation(x, d, sigma)
    assert read.sigma_data == pytest.approx(s, rel=1e-6)
    assert read.dim == pytest.approx(dim, rel=0.3), "isotropic: every dimension counts"
    # the same spread along one line: one effective dimension
    u = torch.randn(dim, generator=torch.Generator().manual_seed(1), dtype=F64)
    line = GaussianMixture([1.0], torch.zeros(1, dim, dtype=F64), (dim * s * s * torch.outer(u, u) / (u @ u) + 1e-8 * torch.eye(dim))[None])
    x = torch.randn(512, dim, generator=torch.Generator().manual_seed(0), dtype=F64) * sigma
    read = data_scale_from_evaluation(x, Bare(line)(x, sigma), sigma)
    assert read.sigma_data == pytest.approx(s, rel=0.2) and read.dim == pytest.approx(1.0, rel=0.3)


@pytest.mark.parametrize("seed", [0, 2, 3, 5])
def test_sigma_data_read_from_mixtures_and_refused_for_noise(seed):
    mix = random_mixture(seed)
    sigma = float(LINEAR.ve_sigma_max)
    x = torch.randn(256, mix.dim, generator=torch.Generator().manual_seed(0), dtype=F64) * sigma
    read = data_scale_from_evaluation(x, Bare(mix)(x, sigma), sigma)
    assert read.sigma_data == pytest.approx(mix.data_std, rel=0.1)
    assert read.dim == pytest.approx(mix.effective_dim, rel=0.35)
    # an error in D at sigma_max: a read only where it is still precise, never a wrong one
    noisy = data_scale_from_evaluation(x, Bare(mix, noise=0.05)(x, sigma), sigma)
    assert noisy is None or noisy.sigma_data == pytest.approx(mix.data_std, rel=0.1)
    if mix.data_std ** 2 / sigma < 1e-3:  # the signal s^2 / sigma per unit of x / sigma, far below the error
        assert noisy is None
    assert data_scale_from_evaluation(x[:1], Bare(mix)(x[:1], sigma), sigma) is None, "one sample gives no slope"


def test_default_grid_reads_sigma_data_at_no_extra_evaluation():
    mix = random_mixture(3)
    noise = torch.randn(512, mix.dim, generator=torch.Generator().manual_seed(1), dtype=F64)
    bare = Bare(mix)
    x, info = sample(bare, noise, "unipc", 6, return_info=True)
    assert info.sigma_data_source == "read" and info.sigma_data == pytest.approx(mix.data_std, rel=0.1)
    assert info.nfe == bare.calls == 6, "the read is the sampler's own first evaluation"
    # the start is centred on the data's mean, read from the same evaluation
    torch.testing.assert_close(info.start_mean, mix.mean.to(info.start_mean), rtol=0, atol=1e-3 * mix.data_std)
    # the same run as with that grid, option and start given explicitly, but for the first
    # evaluation, which the default run shifts to first order in D's slope rather than re-making
    grid = make_grid(LINEAR, 6, "tuned", sigma_data=info.sigma_data, dim=info.dim, size=mix.dim)
    torch.testing.assert_close(info.sigmas, grid, rtol=0, atol=0)
    k = math.sqrt(1.0 + float(grid[0]) ** 2)
    y = sample(Bare(mix), noise + info.start_mean / k, "unipc", 6, sigmas=grid, sigma_data=info.sigma_data)
    torch.testing.assert_close(x, y, rtol=0, atol=2e-3 * mix.data_std)  # observed 1.6e-3 sigma_data
    # the exact model declares its sigma_data: no read
    _, info = sample(mix.denoiser(LINEAR), noise, "unipc", 6, return_info=True)
    assert info.sigma_data_source == "model" and info.sigma_data == mix.data_std


def test_default_grid_falls_back_to_unit_scale_where_the_read_fails():
    mix = random_mixture(2)  # sigma_data 0.09: at sigma_max its signal is far below the model's error
    noise = torch.randn(64, mix.dim, generator=torch.Generator().manual_seed(1), dtype=F64)
    _, info = sample(Bare(mix, noise=0.05), noise, "dpmpp-2m", 8, return_info=True)
    assert info.sigma_data_source == "assumed" and info.sigma_data == 1.0
    assert info.dim == 1.0
    torch.testing.assert_close(info.sigmas, make_grid(LINEAR, 8, "tuned"), rtol=0, atol=0)


@pytest.mark.parametrize("n", [40, 400])  # the Gram matrix of the samples, then of the coordinates
def test_data_scale_from_samples_matches_the_covariance(n):
    # covariance diag(lambda): sigma_data^2 = mean lambda, effective dimension (sum lambda)^2 / sum lambda^2
    lam = torch.tensor([25.0, 9.0] + [0.25] * 98, dtype=F64)
    x = torch.randn(n, 100, generator=torch.Generator().manual_seed(0), dtype=F64) * lam.sqrt() + 3.0
    got = data_scale_from_samples(x.reshape(n, 4, 25))
    xc = x - x.mean(0)
    c = xc.T @ xc / (n - 1)  # the sample covariance, directly
    assert got.sigma_data == pytest.approx(math.sqrt(float(c.trace()) / 100), rel=1e-9)
    assert got.dim == pytest.approx(float(c.trace()) ** 2 / float((c * c).sum()), rel=1e-9)
    if n == 400:  # and near the population's: 5.1, 2.3
        assert got.sigma_data == pytest.approx(math.sqrt(float(lam.mean())), rel=0.1)
        assert got.dim == pytest.approx(float(lam.sum()) ** 2 / float((lam * lam).sum()), rel=0.2)
    assert got.mean.shape == (4, 25)
    with pytest.raises(ValueError, match="do not vary"):
        data_scale_from_samples(torch.ones(5, 3))


def test_declared_data_dim_places_the_first_level_above_the_widest_directions():
    mix = random_mixture(2)  # the read fails (as in the test above): only the declaration counts
    noise = torch.randn(64, mix.dim, generator=torch.Generator().manual_seed(1), dtype=F64)
    model = Bare(mix, noise=0.05)
    model.data_dim = 2.0
    _, info = sample(model, noise, "dpmpp-2m", 8, return_info=True)
    assert info.dim == 2.0 and info.sigma_data_source == "assumed"
    grid = make_grid(LINEAR, 8, "tuned", sigma_data=1.0, dim=2.0, size=mix.dim)
    torch.testing.assert_close(info.sigmas, grid, rtol=0, atol=0)
    # two wide directions share the data's variance: the first level is 2 sqrt(size / 2), not 4
    assert float(grid[1]) == pytest.approx(2 * math.sqrt(mix.dim / 2.0))


@pytest.mark.once
def test_optimize_grid_lowers_the_error_on_fresh_noise():
    mix = random_mixture(8)  # 90-d, 8 modes
    den = mix.denoiser(LINEAR)
    res = optimize_grid(den, (128, mix.dim), "unipc", 4, seed=0, sweeps=4)
    s = res.sigmas
    assert len(s) == 5 and s[-1] == 0 and bool((s[:-1] > s[1:]).all())
    assert s[0] == float(LINEAR.ve_sigma_max) and s[-2] >= float(LINEAR.ve_sigma_min)
    assert res.error < 0.8 * res.start_error
    assert res.nfe > res.reference_steps
    # held out: other noise than the calibration batch
    noise = torch.randn(2048, mix.dim, generator=torch.Generator().manual_seed(99), dtype=F64)
    ref = sample(den, noise, "unipc", 400)
    err = lambda x: float(((x - ref) ** 2).mean())  # noqa: E731
    default = sample(den, noise, "unipc", 4)
    tuned = sample(den, noise, "unipc", 4, sigmas=s, **res.options)
    assert err(tuned) < 0.8 * err(default)


def test_optimize_grid_starts_from_the_better_of_the_rule_and_the_stored_grid():
    mix = random_mixture(8)
    den = mix.denoiser(LINEAR)
    rule = optimize_grid(den, (64, mix.dim), "unipc", 4, seed=0, sweeps=2)
    assert rule.error < 0.8 * rule.start_error
    # a stored grid that jumps to just above 0 in one step is far worse: the search ignores it
    den.grids = {("unipc", 4): {"sigmas": [float(LINEAR.ve_sigma_max), 1e-2, 7e-3, 5e-3, 0.0], "options": {}}}
    res = optimize_grid(den, (64, mix.dim), "unipc", 4, seed=0, sweeps=2)
    assert res.start_error == pytest.approx(rule.start_error) and res.error == pytest.approx(rule.error)
    torch.testing.assert_close(res.start_sigmas, rule.start_sigmas)
    # a stored grid closer to the reference than the rule is where the search starts
    den.grids = {("unipc", 4): {"sigmas": rule.sigmas.tolist(), "options": {}}}
    again = optimize_grid(den, (64, mix.dim), "unipc", 4, seed=0, sweeps=1)
    # (its run starts from x_T uncentred, the rule's from x_T + mu: close to, not exactly, rule.error)
    assert again.start_error == pytest.approx(rule.error, rel=0.05) and again.start_error < 0.9 * rule.start_error
    torch.testing.assert_close(again.start_sigmas, rule.sigmas)


def test_optimize_grid_minimises_an_objective_in_place_of_the_ode_distance():
    """With ``objective`` the search scores each grid by a function of its samples (here how far
    the samples' variance is from the data's): no reference is solved, the score it reports is
    the objective of the grid it returns, and the grid is not the one the ODE distance picks."""
    mix = random_mixture(8)
    den = mix.denoiser(LINEAR)
    target = mix.data_std ** 2

    def spread(x):
        return abs(float(x.var(0).mean()) - target)

    spread.name = "variance gap"
    res = optimize_grid(den, (64, mix.dim), "unipc", 4, seed=0, sweeps=2, objective=spread)
    assert res.target == "variance gap" and res.to_json()["target"] == "variance gap"
    assert res.reference_steps == 0 and res.nfe % 4 == 0  # only 4-step runs: no reference solve
    assert res.error < 0.5 * res.start_error
    assert res.history == sorted(res.history, reverse=True)
    noise = randn((64, mix.dim), 0)  # the calibration batch: per-sample seeds 0..63
    assert spread(sample(den, noise, "unipc", 4, sigmas=res.sigmas, **res.options)) == pytest.approx(res.error, rel=1e-9)
    # it started from the best of the sampler's rule and the fixed rules by the objective (its options throughout)
    rules = {sp: spread(sample(den, noise, "unipc", 4, spacing=sp, **res.options))
             for sp in ("tuned", "trailing", "karras", "log-snr")}
    assert res.start_error == pytest.approx(min(rules.values()), rel=1e-9)
    assert len({round(v, 9) for v in rules.values()}) == 4  # the rules differ, so the start is a choice
    ode = optimize_grid(den, (64, mix.dim), "unipc", 4, seed=0, sweeps=2)
    assert ode.target == "ode" and not torch.allclose(ode.sigmas, res.sigmas)
    # held out: other noise, the objective still lower than on the grid the search started from
    fresh = torch.randn(512, mix.dim, generator=torch.Generator().manual_seed(99), dtype=F64)
    start = sample(den, fresh, "unipc", 4, sigmas=res.start_sigmas, **res.options)
    assert spread(sample(den, fresh, "unipc", 4, sigmas=res.sigmas, **res.options)) < spread(start)


def test_optimize_grid_records_the_start_it_searched_from_where_a_stored_grid_reached_below_sigma_min():
    """A start below the schedule's sigma_min is moved up to it before the search; the result's
    start grid is the moved one, the grid its start error is the score of (and a validation, or
    a kept start, compares that grid)."""
    mix = random_mixture(8)
    den = mix.denoiser(LINEAR)
    lo, hi = float(LINEAR.ve_sigma_min), float(LINEAR.ve_sigma_max)
    below = torch.tensor([hi, 2.0, 0.3, lo / 10, 0.0], dtype=F64)
    den.grids = {("unipc", 4): {"sigmas": below, "options": {}}}
    noise = randn((64, mix.dim), 0)  # the calibration batch: per-sample seeds 0..63
    own = sample(den, noise, "unipc", 4, sigmas=below)

    def near_own(x):  # scores the stored grid best of the starts
        return float(((x - own) ** 2).mean())

    res = optimize_grid(den, (64, mix.dim), "unipc", 4, seed=0, sweeps=1, objective=near_own)
    torch.testing.assert_close(res.start_sigmas[:-2], below[:-2])
    assert float(res.start_sigmas[-2]) == pytest.approx(lo, rel=1e-9)
    assert near_own(sample(den, noise, "unipc", 4, sigmas=res.start_sigmas, **res.options)) == pytest.approx(
        res.start_error, rel=1e-9)


def test_optimize_grid_keeps_its_start_where_a_validation_batch_disagrees():
    """With ``validation`` (other noise, its own score) the grid found is returned only where it
    also scores lower there than the grid the search started from; else the start is returned."""
    mix = random_mixture(8)
    den = mix.denoiser(LINEAR)
    target = mix.data_std ** 2

    def spread(x):
        return abs(float(x.var(0).mean()) - target)

    fresh = torch.randn(512, mix.dim, generator=torch.Generator().manual_seed(99), dtype=F64)
    plain = optimize_grid(den, (64, mix.dim), "unipc", 4, seed=0, sweeps=2, objective=spread)
    agree = optimize_grid(den, (64, mix.dim), "unipc", 4, seed=0, sweeps=2, objective=spread,
                          validation=(fresh, None, spread))
    assert agree.validation["kept"] == "found" and torch.equal(agree.sigmas, plain.sigmas) and agree.error == plain.error
    for name, grid in (("start", agree.start_sigmas), ("found", agree.sigmas)):  # the scores are the grids' there
        assert spread(sample(den, fresh, "unipc", 4, sigmas=grid, **agree.options)) == pytest.approx(
            agree.validation[name], rel=1e-9)
    assert agree.validation["found"] < agree.validation["start"] and agree.nfe == plain.nfe + 2 * 4

    def contrary(x):  # a validation score that ranks the grids the other way round
        return -spread(x)

    disagree = optimize_grid(den, (64, mix.dim), "unipc", 4, seed=0, sweeps=2, objective=spread,
                             validation=(fresh, None, contrary))
    assert disagree.validation["kept"] == "start" and disagree.to_json()["validation"]["kept"] == "start"
    assert torch.equal(disagree.sigmas, disagree.start_sigmas) and disagree.error == disagree.start_error
    assert plain.error < plain.start_error  # so the start was kept although the search had moved
    with pytest.raises(ValueError, match="validation needs an objective"):
        optimize_grid(den, (8, mix.dim), "unipc", 3, sweeps=1, validation=(fresh, None, spread))


def test_optimize_grid_refuses_what_it_cannot_do():
    den = random_mixture(3).denoiser(LINEAR)
    with pytest.raises(ValueError, match="draws noise"):
        optimize_grid(den, (8, 2), "dpmpp-2m-sde", 5)
    with pytest.raises(ValueError, match="steps must be"):
        optimize_grid(den, (8, 2), "unipc", 1)
    with pytest.raises(ValueError, match="unknown sampler"):
        optimize_grid(den, (8, 2), "nope", 5)


def test_stored_grids_are_used_by_default_and_survive_the_folder(tmp_path):
    from difflab.io.folders import load_model, save_grids, save_model
    from difflab.nets import MLP

    torch.manual_seed(0)
    den = difflab.Denoiser(MLP(dim=2, width=16, depth=2), LINEAR, "eps")
    save_model(tmp_path / "m", den)
    grid = torch.tensor([float(LINEAR.ve_sigma_max), 3.0, 0.5, 0.05, 0.0], dtype=F64)
    save_grids(tmp_path / "m", {("unipc", 4): {"sigmas": grid.tolist(), "options": {"sigma_data": 0.7}, "error": 1.0}})
    # merged, not replaced; a search whose start was not finite records it, and the file stays strict JSON
    save_grids(tmp_path / "m", {("deis", 4): {"sigmas": grid.tolist(), "options": {}, "start_error": float("inf")}})

    def strict(constant):
        raise AssertionError(f"{constant} is not JSON")

    stored = json.loads((tmp_path / "m" / "grids.json").read_text(), parse_constant=strict)["grids"]
    assert stored["deis"]["4"]["start_error"] == "inf" and stored["unipc"]["4"]["error"] == 1.0
    loaded, _ = load_model(tmp_path / "m")
    assert set(loaded.grids) == {("unipc", 4), ("deis", 4)}
    noise = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    x, info = sample(loaded, noise, "unipc", 4, return_info=True)
    assert info.sigma_data_source == "stored grid" and info.sigma_data == 0.7
    torch.testing.assert_close(info.sigmas, grid, rtol=0, atol=0)
    assert torch.equal(x, sample(loaded, noise, "unipc", 4, sigmas=grid, sigma_data=0.7))
    # another budget or an explicit spacing: the usual grid
    assert sample(loaded, noise, "unipc", 5, return_info=True)[1].sigma_data_source != "stored grid"
    assert sample(loaded, noise, "unipc", 4, spacing="karras", return_info=True)[1].sigma_data_source is None
    # a broken file is named
    (tmp_path / "m" / "grids.json").write_text(json.dumps({"grids": {"unipc": {"4": {"sigmas": [1.0, 2.0, 0.0]}}}}))
    with pytest.raises(ValueError, match="grids.json"):
        load_model(tmp_path / "m")


def test_tune_grid_command_stores_grids_that_sampling_then_uses(digits_model, tmp_path, capsys, one_thread):
    import shutil

    from difflab.cli import main
    from difflab.io.folders import load_model
    from difflab.pipelines.image import ImagePipeline

    folder = tmp_path / "m"
    shutil.copytree(digits_model, folder)
    assert main(["tune-grid", str(folder), "--nfe", "3", "4", "-n", "8", "--sweeps", "1", "--guidance", "2"]) == 0
    out = capsys.readouterr().out
    assert "unipc at 3 steps" in out and "unipc at 4 steps" in out
    stored = json.loads((folder / "grids.json").read_text())["grids"]["unipc"]
    assert set(stored) == {"3", "4"} and stored["4"]["calibration"] == {"n": 8, "seed": CALIBRATION_NOISE_SEED,
                                                              "guidance": 2.0}
    # by default the calibration noise lies above every seed a report draws by default (0 up to the image limit)
    assert CALIBRATION_NOISE_SEED >= difflab.limits.DEFAULTS["images"][0]
    assert stored["4"]["error"] <= stored["4"]["start_error"]
    denoiser, config = load_model(folder)
    x, info = ImagePipeline(denoiser, config).sample(4, sampler="unipc", steps=4, seed=0, return_info=True)
    assert info.sigma_data_source == "stored grid" and info.sigmas.tolist() == stored["4"]["sigmas"]
    # bad input: one line, nothing written
    assert main(["tune-grid", str(folder), "--sampler", "ddpm", "--nfe", "3"]) == 2
    assert "draws noise" in capsys.readouterr().err
    assert main(["tune-grid", str(tmp_path / "missing")]) == 2


def test_tune_grid_against_data_scores_grids_by_the_tuning_folds(digits_model, tmp_path, capsys, one_thread,
                                                                  monkeypatch):
    import functools
    import shutil

    import difflab.evaluate.images as E
    from difflab.cli import main
    from difflab.metrics.classifier import RECIPE

    # the eight fold classifiers trained briefly (the score's construction is what is tested here)
    quick = {**RECIPE, "min_steps": 20, "min_epochs": 1}
    monkeypatch.setattr(E, "feature_classifier", functools.partial(E.feature_classifier, recipe=quick))
    folder = tmp_path / "m"
    shutil.copytree(digits_model, folder)
    assert main(["tune-grid", str(folder), "--nfe", "3", "-n", "32", "--sweeps", "1", "--against", "data"]) == 0
    captured = capsys.readouterr()
    assert "FD to the tuning folds" in captured.out
    assert "wants -n 1000 or more" in captured.err  # 32 samples: a note that the FD is noisy
    # 32 samples: whether the grid found also wins on the validation batch (the next 32 seeds) is the
    # draw's; either way the command says what it did (both branches are pinned down in test_text_to_image)
    if "nothing written" in captured.out:
        assert not (folder / "grids.json").exists()
    else:
        entry = json.loads((folder / "grids.json").read_text())["grids"]["unipc"]["3"]
        assert entry["target"].startswith("fd-tuning-folds (digits: mean over 8 folds") and entry["reference_steps"] == 0
        assert entry["error"] < entry["start_error"] and entry["validation"]["kept"] == "found"
    # a model without a dataset difflab has: one line, nothing written
    toy = tmp_path / "toy"
    assert main(["train", "toy", "--data", "8gaussians", "--steps", "2", "--width", "16", "--out", str(toy), "--quiet"]) == 0
    assert main(["tune-grid", str(toy), "--nfe", "3", "--against", "data"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--against data" in err and len(err.splitlines()) == 1 and not (toy / "grids.json").exists()
    assert main(["tune-grid", str(folder), "--nfe", "3", "--against", "faithfulness"]) == 2  # the judge reads prompts
    err = capsys.readouterr().err.strip()
    assert "needs a text-to-image pipeline" in err and "or data" in err and len(err.splitlines()) == 1
    # against its own ODE a toy model is tuned (its noise has the data's shape)
    assert main(["tune-grid", str(toy), "--nfe", "3", "-n", "8", "--sweeps", "1"]) == 0
    assert json.loads((toy / "grids.json").read_text())["grids"]["unipc"]["3"]["target"] == "ode"


def test_split_first_jump_keeps_the_weights_of_modes_far_apart(monkeypatch):
    """Two modes far apart in 218 dimensions (tuning mixture 18: weights 0.95 / 0.05, the spread
    term sets the first level): the rule's one first-order jump contracts the line joining them and
    moves mass into the large mode at every budget; split (the default from TUNED_SPLIT_STEPS
    steps) the default keeps the small mode's share where the converged ODE from the same noise
    puts it. The unsplit rule is checked to miss, so the test can fail."""
    import difflab.grids as G

    mix = random_mixture(18)
    den = mix.denoiser(LINEAR)
    noise = torch.randn(2000, mix.dim, generator=torch.Generator().manual_seed(0), dtype=F64)
    lam = torch.stack([torch.diagonal(c) for c in mix.covariances])

    def small_share(x):
        d = ((x[:, None] - mix.means) ** 2 / lam).sum(-1) + torch.log(lam).sum(-1)
        return float((d.argmin(1) == 1).to(F64).mean())

    k = math.sqrt(1.0 + float(LINEAR.ve_sigma_max) ** 2)
    ode = small_share(sample(den, noise + mix.mean / k, "unipc", 50, spacing="log-snr"))
    assert 0.04 < ode < 0.065  # the mode's weight is 0.051
    split = small_share(sample(den, noise, "unipc", 20))
    monkeypatch.setattr(G, "TUNED_SPLIT_STEPS", 10**9)
    unsplit = small_share(sample(den, noise, "unipc", 20))
    assert abs(split - ode) <= 0.003, (split, ode)
    assert ode - unsplit >= 0.006, (unsplit, ode)

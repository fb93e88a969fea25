"""The training engine: accumulation, exact resume, DDP, the non-finite guard,
checkpoint integrity and atomicity, label dropout, the log and the image trainer."""

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from difflab.data.toy import moons
from difflab.denoiser import Denoiser
from difflab.nets import MLP, UNet
from difflab.schedules import DiscreteSchedule
from difflab.train import drop_conditions, fit, read_checkpoint, read_log, save_checkpoint
from difflab.train.loop import CHECKPOINT, LOG, LOSS_CURVE

# --------------------------------------------------------------------------------------
# tiny models and data
# --------------------------------------------------------------------------------------

IMAGES = torch.Generator().manual_seed(123)
DATA_X = torch.rand(64, 1, 8, 8, generator=IMAGES) * 2 - 1
DATA_Y = torch.randint(0, 3, (64,), generator=IMAGES)


def tiny_unet(seed=0, dropout=0.0, channels=8):
    torch.manual_seed(seed)
    net = UNet(in_channels=1, channels=channels, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(4,),
               image_size=8, groups=4, num_classes=3, dropout=dropout)
    return Denoiser(net, DiscreteSchedule("cosine", T=100), "eps", "index")


def draw_images(n, g):
    i = torch.randint(0, len(DATA_X), (n,), generator=g)
    return DATA_X[i], {"labels": DATA_Y[i]}


def tiny_mlp(seed=0, width=16):
    torch.manual_seed(seed)
    return Denoiser(MLP(dim=2, width=width, depth=1, emb_dim=16), DiscreteSchedule("linear", T=100), "eps", "index")


QUIET = dict(progress=False)


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------------------
# gradient accumulation
# --------------------------------------------------------------------------------------


def unzeroed(den):
    """The UNet starts with zero output layers, so most gradients of step 1 are exactly 0;
    give every parameter a value so that every gradient is exercised."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in den.net.parameters():
            if not p.any():
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return den


ACC_KW = dict(batch_size=12, lr=1e-2, warmup=1, p_uncond=0.5, grad_clip=0.5, ema_half_life=20, **QUIET)


@pytest.mark.parametrize("accumulate", [4, 5])  # 12 = 4 x 3, and an uneven 2+3+2+3+2
def test_accumulated_gradient_equals_one_big_batch(accumulate):
    one, many = unzeroed(tiny_unet()), unzeroed(tiny_unet())
    r1 = fit(one, draw_images, steps=1, accumulate=1, **ACC_KW)
    rk = fit(many, draw_images, steps=1, accumulate=accumulate, **ACC_KW)
    grads = [(p.grad, q.grad) for p, q in zip(one.net.parameters(), many.net.parameters())]
    assert all(g1.abs().max() > 0 for g1, _ in grads)
    for g1, gk in grads:
        torch.testing.assert_close(gk, g1, rtol=1e-5, atol=1e-7)
    assert rk.losses == pytest.approx(r1.losses, rel=1e-6)


def flat(state: dict) -> torch.Tensor:
    return torch.cat([v.flatten().double() for v in state.values()])


def assert_same_trajectory(got: dict, want: dict, start: dict, lr: float) -> None:
    """Weights after several steps agree up to round-off amplified by Adam: a parameter
    whose gradient is (nearly) zero, such as an attention key bias (softmax ignores
    it), moves by lr * g / (|g| + eps) with g made of round-off. So we ask the
    difference to be tiny against the whole movement from ``start``, and against lr."""
    g, w, s = flat(got), flat(want), flat(start)
    assert (g - w).norm() < 1e-3 * (w - s).norm()
    assert (g - w).abs().max() < 0.05 * lr


def test_accumulated_training_follows_one_big_batch():
    start = tiny_unet().net.state_dict()
    one, many = tiny_unet(), tiny_unet()
    r1 = fit(one, draw_images, steps=4, accumulate=1, **ACC_KW)
    rk = fit(many, draw_images, steps=4, accumulate=3, **ACC_KW)
    assert_same_trajectory(many.net.state_dict(), one.net.state_dict(), start, ACC_KW["lr"])
    assert_same_trajectory(rk.ema.state_dict(), r1.ema.state_dict(), start, ACC_KW["lr"])
    assert rk.losses == pytest.approx(r1.losses, rel=1e-5)
    # the check can fail: another seed's trajectory is as far from ours as we are from the start
    other = tiny_unet()
    fit(other, draw_images, steps=4, seed=1, **ACC_KW)
    with pytest.raises(AssertionError):
        assert_same_trajectory(other.net.state_dict(), one.net.state_dict(), start, ACC_KW["lr"])


# --------------------------------------------------------------------------------------
# checkpoint and exact resume
# --------------------------------------------------------------------------------------


class Interrupted(Exception):
    pass


def interrupting(draw, at_call):
    calls = [0]

    def f(n, g):
        calls[0] += 1
        if calls[0] == at_call:
            raise Interrupted
        return draw(n, g)

    return f


RESUME_KW = dict(steps=7, batch_size=6, lr=5e-3, warmup=3, p_uncond=0.3, grad_clip=1.0, ema_half_life=30,
                 ema_rampup=0.05, checkpoint_every=2, log_every=1, config={"run": "test"}, **QUIET)


@pytest.mark.slow
def test_interrupted_and_resumed_run_is_bitwise_identical(tmp_path):
    full = tiny_unet(dropout=0.2)  # dropout: the global torch RNG must be restored too
    r_full = fit(full, draw_images, out=tmp_path / "full", **RESUME_KW)

    part = tiny_unet(dropout=0.2)
    with pytest.raises(Interrupted):  # killed during step 6: the last checkpoint is at step 4
        fit(part, interrupting(draw_images, 6), out=tmp_path / "part", **RESUME_KW)
    assert read_checkpoint(tmp_path / "part" / CHECKPOINT).step == 4
    assert read_log(tmp_path / "part" / LOG)[-1]["step"] == 5  # logged beyond the checkpoint

    resumed = tiny_unet(seed=99, dropout=0.2)  # other initial weights: all must come from the checkpoint
    r_res = fit(resumed, draw_images, out=tmp_path / "part", resume=True, **RESUME_KW)
    assert r_res.step == 7 and r_res.samples_seen == 42 and len(r_res.losses) == 3
    assert states_equal(resumed.net.state_dict(), full.net.state_dict())
    assert states_equal(r_res.ema.state_dict(), r_full.ema.state_dict())
    assert r_res.losses == r_full.losses[4:]

    a, b = read_checkpoint(tmp_path / "full" / CHECKPOINT), read_checkpoint(tmp_path / "part" / CHECKPOINT)
    assert a.step == b.step == 7
    for name in ("model", "ema", "rng"):
        assert states_equal(getattr(a, name), getattr(b, name)), name
    for i, state in a.optimizer["state"].items():
        assert states_equal(state, b.optimizer["state"][i])
    assert a.optimizer["param_groups"] == b.optimizer["param_groups"] and a.scheduler == b.scheduler

    def strip(records):
        return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")} for r in records]

    assert strip(read_log(tmp_path / "part" / LOG)) == strip(read_log(tmp_path / "full" / LOG))
    assert [r["step"] for r in read_log(tmp_path / "full" / LOG)] == list(range(1, 8))
    assert (tmp_path / "full" / LOSS_CURVE).stat().st_size > 1000


@pytest.fixture
def written(tmp_path):
    den = tiny_mlp()
    fit(den, moons, steps=2, batch_size=8, out=tmp_path, config={"net": den.net.config}, **QUIET)
    return tmp_path / CHECKPOINT


def resume_mlp(path, width=16, **kw):
    den = tiny_mlp(width=width)
    args = dict(steps=3, batch_size=8, out=path.parent, resume=True, config={"net": den.net.config}, **QUIET)
    return fit(den, moons, **{**args, **kw})


def test_corrupted_checkpoints_are_named_errors(written):
    good = written.read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "garbage": b"\x00not a checkpoint" * 50,
        "flipped bit": good[:-40] + bytes([good[-40] ^ 1]) + good[-39:],  # inside the tensor data
    }
    for name, content in cases.items():
        written.write_bytes(content)
        with pytest.raises(ValueError, match="corrupted checkpoint") as e:
            resume_mlp(written)
        assert str(written) in str(e.value), name
    written.unlink()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resume_mlp(written)


def test_mismatched_checkpoints_are_named_errors(written):
    with pytest.raises(ValueError, match=r"net\.width: 16 in the checkpoint, 32 now") as e:
        resume_mlp(written, width=32)
    assert str(written) in str(e.value)
    with pytest.raises(ValueError, match=r"fit\.lr: 0\.001 in the checkpoint, 0\.002 now"):
        resume_mlp(written, lr=2e-3)
    with pytest.raises(ValueError, match="has shape"):  # no config to compare: the weights still must fit
        resume_mlp(written, width=32, config={"net": tiny_mlp().net.config})
    assert resume_mlp(written, steps=4, accumulate=2).step == 4  # allowed to change
    with pytest.raises(FileExistsError, match="resume=True continues that run"):
        resume_mlp(written, resume=False)


def test_a_failed_write_leaves_the_previous_checkpoint(written, monkeypatch):
    import safetensors.torch

    before = written.read_bytes()
    ckpt = read_checkpoint(written)

    def dies_halfway(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(written, ckpt)
    assert written.read_bytes() == before
    assert sorted(p.name for p in written.parent.iterdir()) == sorted([CHECKPOINT, LOG, LOSS_CURVE])


def test_a_killed_write_leaves_the_previous_checkpoint(written):
    """A process killed in the middle of writing (no cleanup runs) cannot damage the file."""
    before = written.read_bytes()
    code = textwrap.dedent(f"""
        import os, safetensors.torch
        from pathlib import Path
        from difflab.train import read_checkpoint, save_checkpoint
        ckpt = read_checkpoint({str(written)!r})
        def killed(tensors, filename, metadata=None):
            Path(filename).write_bytes(b"half")
            os._exit(9)
        safetensors.torch.save_file = killed
        save_checkpoint({str(written)!r}, ckpt)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr
    assert written.read_bytes() == before
    read_checkpoint(written)
    resume_mlp(written)  # and the next run cleans up the killed write's temporary file
    assert not [p for p in written.parent.iterdir() if p.name.startswith(f".{CHECKPOINT}")]


# --------------------------------------------------------------------------------------
# the non-finite guard and bf16
# --------------------------------------------------------------------------------------


def test_non_finite_steps_are_skipped(tmp_path, caplog):
    def nan_second(n, g):
        x = moons(n, g)
        nan_second.calls += 1
        return x * float("nan") if nan_second.calls == 2 else x

    nan_second.calls = 0
    kw = dict(batch_size=8, warmup=0, ema_half_life=10, **QUIET)  # warmup 0: step 1's lr is the same for any steps
    ref = tiny_mlp()
    r_ref = fit(ref, moons, steps=1, **kw)
    den = tiny_mlp()
    r = fit(den, nan_second, steps=2, out=tmp_path, log_every=1, **kw)
    assert r.skipped == 1 and r.step == 2
    assert "step 2: non-finite loss" in caplog.text
    assert states_equal(den.net.state_dict(), ref.net.state_dict())  # no update of the weights ...
    assert states_equal(r.ema.state_dict(), r_ref.ema.state_dict())  # ... nor of the EMA
    records = read_log(tmp_path / LOG)
    assert records[1]["skipped"] == 1 and records[1]["loss"] is None
    opt = read_checkpoint(tmp_path / CHECKPOINT).optimizer
    assert all(float(s["step"]) == 1 for s in opt["state"].values())  # nor of AdamW's state

    with pytest.raises(FloatingPointError, match="3 steps in a row"):
        fit(tiny_mlp(), lambda n, g: moons(n, g) * float("nan"), steps=5, max_skipped_in_a_row=3, **kw)


def test_bf16_autocast_keeps_float32_master_weights():
    den = tiny_unet()
    with warnings.catch_warnings():  # emulated bf16 on a CPU without it warns
        warnings.simplefilter("ignore")
        r = fit(den, draw_images, steps=3, batch_size=8, precision="bf16", **QUIET)
    assert all(torch.isfinite(torch.tensor(r.losses)))
    assert all(p.dtype == torch.float32 for p in den.net.parameters())
    assert all(v.dtype == torch.float32 for v in r.ema.state_dict().values())


# --------------------------------------------------------------------------------------
# conditioning: label dropout
# --------------------------------------------------------------------------------------


def test_label_dropout_rate_and_null_label():
    n, p = 20_000, 0.1
    labels = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(0))
    out = drop_conditions({"labels": labels}, p, {"labels": 10}, torch.Generator().manual_seed(1))["labels"]
    dropped = out == 10
    assert abs(dropped.float().mean().item() - p) < 4 * (p * (1 - p) / n) ** 0.5
    assert torch.equal(out[~dropped], labels[~dropped])
    again = drop_conditions({"labels": labels}, p, {"labels": 10}, torch.Generator().manual_seed(1))["labels"]
    assert torch.equal(out, again)
    # per-sample coins: sample i's coin does not depend on what follows it in the batch
    head = drop_conditions({"labels": labels[:100]}, p, {"labels": 10}, torch.Generator().manual_seed(1))["labels"]
    assert torch.equal(head, out[:100])
    # a sequence condition is replaced whole
    ctx = torch.ones(6, 4, 3)
    got = drop_conditions({"context": ctx}, 0.5, {"context": 0.0}, torch.Generator().manual_seed(2))["context"]
    assert set(got.flatten(1).mean(1).tolist()) == {0.0, 1.0}


def test_fit_feeds_dropped_labels_to_the_network():
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = MLP(dim=2, width=8, depth=1, emb_dim=8)
            self.config = {"num_classes": 4}

        def forward(self, x, noise_input, labels=None):
            seen.append(labels.clone())
            return self.mlp(x, noise_input)

    den = Denoiser(Spy(), DiscreteSchedule("linear", T=100), "eps", "index")
    fit(den, lambda n, g: (moons(n, g), {"labels": torch.randint(0, 4, (n,), generator=g)}),
        steps=4, batch_size=256, p_uncond=0.25, **QUIET)
    labels = torch.cat(seen)
    assert labels.shape == (1024,) and labels.max() == 4  # the null label num_classes
    assert abs((labels == 4).float().mean().item() - 0.25) < 4 * (0.25 * 0.75 / 1024) ** 0.5


# --------------------------------------------------------------------------------------
# a pluggable loss
# --------------------------------------------------------------------------------------


class NoisyRegression:
    """A custom Loss: fit y = <a, x> with a linear net, the target jittered by
    per-sample noise drawn for the whole global batch; it logs two extra terms."""

    A = torch.tensor([[1.5, -2.0]])

    def __init__(self, jitter: float = 0.1):
        self.config = {"jitter": jitter}

    def draw(self, x, cond, generator):
        return cond, {"jitter": self.config["jitter"] * torch.randn(x.shape[0], 1, generator=generator)}

    def __call__(self, net, x, cond, noise):
        target = x @ self.A.T + noise["jitter"].to(x.device)
        mse = (net(x) - target).square().mean()
        return mse, {"mse": mse.detach(), "half": mse.detach() / 2}


def linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(2, 1)


def test_fit_trains_with_a_custom_loss_and_logs_its_terms(tmp_path):
    net = linear()
    r = fit(net, moons, loss=NoisyRegression(), steps=40, batch_size=16, lr=0.3, warmup=1, ema_half_life=None,
            out=tmp_path, log_every=10, **QUIET)
    assert r.ema is None and r.step == 40
    assert sum(r.losses[-10:]) < 0.1 * sum(r.losses[:10])
    torch.testing.assert_close(net.weight.detach(), NoisyRegression.A, atol=0.1, rtol=0)
    records = read_log(tmp_path / LOG)
    assert [rec["step"] for rec in records] == [10, 20, 30, 40]
    for rec, i in zip(records, range(0, 40, 10)):  # the terms are averaged per interval, like the loss
        assert rec["mse"] == pytest.approx(sum(r.losses[i:i + 10]) / 10, rel=1e-6) == pytest.approx(rec["loss"])
        assert rec["half"] == pytest.approx(rec["mse"] / 2)
    ckpt = read_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt.config["fit"]["jitter"] == 0.1 and "p_uncond" not in ckpt.config["fit"] and ckpt.ema is None
    with pytest.raises(ValueError, match="different run.*fit.jitter"):  # the loss's config is compared on resume
        fit(linear(), moons, loss=NoisyRegression(jitter=0.2), steps=41,
            batch_size=16, lr=0.1, warmup=1, ema_half_life=None, out=tmp_path, resume=True, log_every=10, **QUIET)


def test_custom_loss_randomness_is_drawn_for_the_global_batch():
    """k micro-batches of b = one batch of k b, for a loss with its own randomness: the
    jitter of sample i does not depend on how the batch is cut."""
    kw = {"loss": NoisyRegression(), "steps": 5, "batch_size": 12, "lr": 0.05, "warmup": 1, "ema_half_life": None,
          **QUIET}
    one, two, other = linear(), linear(), linear()
    r1 = fit(one, moons, accumulate=1, **kw)
    r2 = fit(two, moons, accumulate=2, **kw)
    for p, q in zip(one.parameters(), two.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-7)
    assert r2.losses == pytest.approx(r1.losses, rel=1e-5)
    fit(other, moons, seed=1, **kw)  # the check can fail: another seed's jitter moves the weights elsewhere
    assert not torch.allclose(other.weight, one.weight, rtol=1e-5, atol=1e-7)


def test_custom_loss_errors():
    with pytest.raises(ValueError, match="belong to the default denoising loss"):
        fit(linear(), moons, loss=NoisyRegression(), steps=1, batch_size=4, p_uncond=0.1, **QUIET)
    clash = NoisyRegression()
    clash.config = {"lr": 1}
    with pytest.raises(ValueError, match=r"config keys \['lr'\] are fit's own"):
        fit(linear(), moons, loss=clash, steps=1, batch_size=4, **QUIET)
    with pytest.raises(TypeError, match="fit trains an nn.Module"):
        fit(lambda x: x, moons, loss=NoisyRegression(), steps=1, batch_size=4, **QUIET)


# --------------------------------------------------------------------------------------
# data parallel: 2 processes (gloo) = 1 process
# --------------------------------------------------------------------------------------

DDP_SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
from safetensors.torch import save_file
from test_engine import tiny_unet, unzeroed, draw_images, DDP_KW
from difflab.train import fit, init_distributed
w = init_distributed()
assert w.size == 2, w
torch.set_num_threads(1)
first = unzeroed(tiny_unet())
fit(first, draw_images, **{{**DDP_KW, "steps": 1}})
den = tiny_unet()
r = fit(den, draw_images, out={out!r}, **DDP_KW)
if w.is_main:
    save_file({{**{{"grad." + k: p.grad for k, p in first.net.named_parameters()}}, **den.net.state_dict(),
               **{{"ema." + k: v for k, v in r.ema.state_dict().items()}}, "losses": torch.tensor(r.losses)}},
              {result!r})
"""
DDP_KW = dict(steps=4, batch_size=12, accumulate=2, lr=1e-2, warmup=1, p_uncond=0.5, grad_clip=0.5,
              ema_half_life=20, checkpoint_every=2, progress=False)


@pytest.mark.slow
def test_ddp_two_processes_equal_one(tmp_path):
    """2 processes x 2 micro-batches of 3 = one process with a batch of 12: the same
    gradient to float round-off, the same trajectory up to Adam's amplification of it
    (see test_accumulated_training_follows_one_big_batch)."""
    from safetensors.torch import load_file

    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path / "run"),
                                        result=str(tmp_path / "ddp.safetensors")))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ddp = load_file(tmp_path / "ddp.safetensors")

    kw = {**DDP_KW, "accumulate": 1}
    first = unzeroed(tiny_unet())
    fit(first, draw_images, **{**kw, "steps": 1})
    for k, p in first.net.named_parameters():
        torch.testing.assert_close(ddp["grad." + k], p.grad, rtol=1e-5, atol=1e-7, msg=k)
    den = tiny_unet()
    start = tiny_unet().net.state_dict()
    one = fit(den, draw_images, **kw)
    assert_same_trajectory({k: ddp[k] for k in start}, den.net.state_dict(), start, kw["lr"])
    assert_same_trajectory({k: ddp["ema." + k] for k in start}, one.ema.state_dict(), start, kw["lr"])
    torch.testing.assert_close(ddp["losses"], torch.tensor(one.losses, dtype=torch.float32), rtol=1e-5, atol=0)
    ckpt = read_checkpoint(tmp_path / "run" / CHECKPOINT)  # rank 0 wrote it, with both ranks' RNG states
    assert ckpt.step == 4 and {"torch/0", "torch/1"} <= set(ckpt.rng)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted([CHECKPOINT, LOG, LOSS_CURVE])


# --------------------------------------------------------------------------------------
# the log and the image trainer
# --------------------------------------------------------------------------------------


def test_log_survives_a_cut_last_line(tmp_path):
    from difflab.train import LossLog

    log = LossLog(tmp_path / "log.jsonl")
    log.append({"step": 1, "loss": 0.5})
    log.append({"step": 2, "loss": 0.4})
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write('{"step": 3, "lo')  # killed mid-line
    assert [r["step"] for r in read_log(tmp_path / "log.jsonl")] == [1, 2]
    LossLog(tmp_path / "log.jsonl", resume_step=1).append({"step": 2, "loss": 0.3})
    assert read_log(tmp_path / "log.jsonl") == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.3}]


def test_train_image_digits_saves_and_resumes(tmp_path):
    pytest.importorskip("sklearn")
    from difflab.io.folders import load_model
    from difflab.train.image import train_image

    kw = dict(out=tmp_path / "m", steps=2, batch_size=8, channels=8, channel_mult=(1, 2), checkpoint_every=1,
              progress=False)
    train_image("digits", **kw)
    den, cfg = load_model(tmp_path / "m")
    assert cfg["task"] == "image" and cfg["num_classes"] == 10 and cfg["data"]["name"] == "digits"
    assert cfg["data"]["shape"] == [1, 8, 8] and cfg["training"]["steps_done"] == 2
    from difflab.precision import resolve_precision  # the recipe's default: bf16 where native, recorded resolved
    assert cfg["training"]["precision"] == resolve_precision("auto") and cfg["training"]["t_sampling"] == "uniform"
    assert den.net.config["num_classes"] == 10 and den.schedule.kind == "cosine"
    x = den(torch.zeros(2, 1, 8, 8), 1.0, labels=torch.tensor([3, 10]))
    assert x.shape == (2, 1, 8, 8) and torch.isfinite(x).all()
    train_image("digits", **{**kw, "steps": 3, "resume": True})
    assert load_model(tmp_path / "m")[1]["training"]["steps_done"] == 3
    with pytest.raises(ValueError, match="fit.lr"):
        train_image("digits", **{**kw, "steps": 4, "resume": True, "lr": 5e-4})
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train_image("digits", **{**kw, "out": tmp_path / "none", "resume": True})
    with pytest.raises(FileExistsError, match="already holds a model or run"):  # never overwritten
        train_image("digits", **kw)

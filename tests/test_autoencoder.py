import json
import math

import pytest
import torch

from difflab.nets.autoencoder import AutoencoderKL, DiagonalGaussian, autoencoder_from_config
from difflab.io.folders import load_autoencoder, save_autoencoder
from difflab.train.autoencoder import autoencoder_loss, crop_each, reconstruction_psnr, train_autoencoder
from difflab.io.checkpoint import read_checkpoint


def blobs(n: int, g: torch.Generator, size: int = 16) -> torch.Tensor:
    """Two flat-coloured disks or squares on a flat background, in [-1, 1]."""
    yy, xx = torch.meshgrid((torch.arange(size) + 0.5) / size, (torch.arange(size) + 0.5) / size, indexing="ij")
    img = (torch.rand(n, 3, 1, 1, generator=g) * 2 - 1).expand(n, 3, size, size).clone()
    for _ in range(2):
        colour = torch.rand(n, 3, 1, 1, generator=g) * 2 - 1
        cx, cy = (torch.rand(2, n, 1, 1, generator=g) * 0.6 + 0.2).unbind(0)
        r = torch.rand(n, 1, 1, generator=g) * 0.15 + 0.1
        disk = (xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2
        square = ((xx - cx).abs() < r) & ((yy - cy).abs() < r)
        inside = torch.where(torch.rand(n, 1, 1, generator=g) < 0.5, disk, square)
        img = torch.where(inside[:, None], colour, img)
    return img


def small(**kw) -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(**{"channels": 8, "channel_mult": (1, 2, 2), "groups": 4, **kw})


@pytest.mark.parametrize("mult, factor", [((1, 2, 2), 4), ((1, 2, 2, 2), 8)])
def test_shapes(mult, factor):
    ae = small(channel_mult=mult)
    assert ae.factor == factor
    x = blobs(2, torch.Generator().manual_seed(0), size=32)
    q = ae.encode(x)
    assert q.mean.shape == q.logvar.shape == (2, 4, 32 // factor, 32 // factor)
    assert ae.latent_shape((3, 32, 32)) == (4, 32 // factor, 32 // factor)
    assert ae.decode(q.sample(0)).shape == x.shape
    x_hat, q2 = ae(x, 0)
    assert x_hat.shape == x.shape and torch.equal(q2.mean, q.mean)
    assert small(channel_mult=mult, mid_attention=True).decode(q.mode()).shape == x.shape


def test_bad_inputs():
    ae = small()
    with pytest.raises(ValueError, match="divisible by the downsampling factor 4, got 30x30"):
        ae.encode(torch.zeros(1, 3, 30, 30))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, H, W\), got \(1, 1, 16, 16\)"):
        ae.encode(torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match=r"z must have shape \(N, 4, H, W\)"):
        ae.decode(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="groups=4 must divide"):
        AutoencoderKL(channels=6, groups=4)
    with pytest.raises(ValueError, match="no scale_factor yet"):
        ae.encode_latents(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="bad autoencoder config"):
        autoencoder_from_config({"type": "autoencoder_kl", "width": 3})


def test_kl_matches_closed_form_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(3, 4, 2, 2, generator=g), torch.randn(3, 4, 2, 2, generator=g)
    q = DiagonalGaussian(mean, logvar)
    normal = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    expected = torch.distributions.kl_divergence(normal, torch.distributions.Normal(0.0, 1.0)).flatten(1).sum(1)
    torch.testing.assert_close(q.kl(), expected)
    z = q.sample(1)
    torch.testing.assert_close(q.nll(z), -normal.log_prob(z).flatten(1).sum(1))
    # KL = E_q[log q(z) - log p(z)], by Monte Carlo over 4000 draws
    zs = mean + q.std * torch.randn(4000, *mean.shape, generator=g)
    log_q = normal.log_prob(zs).flatten(2).sum(2)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(zs).flatten(2).sum(2)
    mc = (log_q - log_p).mean(0)
    torch.testing.assert_close(mc, q.kl(), atol=0.3, rtol=0.03)
    # a point posterior (logvar clamped at -30) and the prior itself
    assert DiagonalGaussian(torch.zeros(1, 2), torch.zeros(1, 2)).kl().item() == 0.0
    assert torch.isfinite(DiagonalGaussian(torch.zeros(1, 2), torch.full((1, 2), -1e4)).kl()).all()


def test_sample_reproducible_and_per_sample():
    g = torch.Generator().manual_seed(0)
    q = DiagonalGaussian(torch.randn(4, 4, 3, 3, generator=g), torch.randn(4, 4, 3, 3, generator=g))
    a = q.sample(torch.Generator().manual_seed(5))
    assert torch.equal(a, q.sample(torch.Generator().manual_seed(5)))
    assert not torch.equal(a, q.sample(torch.Generator().manual_seed(6)))
    # an int seed gives sample i the stream seed + i: a batch of N equals N batches of one
    batch = q.sample(7)
    for i in range(4):
        one = DiagonalGaussian(q.mean[i:i + 1], q.logvar[i:i + 1]).sample(7 + i)
        torch.testing.assert_close(batch[i:i + 1], one, rtol=0, atol=0)
    many = torch.stack([q.sample(s) for s in range(2000)])
    torch.testing.assert_close(many.mean(0), q.mean, atol=0.15 * q.std.max().item(), rtol=0)
    torch.testing.assert_close(many.std(0) / q.std, torch.ones_like(q.std), atol=0.1, rtol=0)


def test_save_load_round_trip(tmp_path):
    ae = small(mid_attention=True)
    with torch.no_grad():  # not the initial weights, so loading must really load them
        for p in ae.parameters():
            p.add_(0.01 * torch.randn_like(p))
    x = blobs(3, torch.Generator().manual_seed(1))
    ae.estimate_scale_factor(x, 0)
    folder = save_autoencoder(tmp_path / "ae", ae, {"training": {"psnr": 12.5}})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    back, cfg = load_autoencoder(folder)
    assert cfg["task"] == "autoencoder" and cfg["training"]["psnr"] == 12.5
    assert back.config == ae.config and back.scale_factor == ae.scale_factor
    with torch.no_grad():
        assert torch.equal(back.encode(x).mean, ae.encode(x).mean)
        assert torch.equal(back.encode_latents(x, 3), ae.encode_latents(x, 3))
        z = torch.randn(2, 4, 4, 4)
        assert torch.equal(back.decode_latents(z), ae.decode_latents(z))
    cfg["net"]["channels"] = 16
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="model.safetensors does not match .*config.json"):
        load_autoencoder(folder)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_autoencoder(tmp_path / "missing")


def test_scale_factor_gives_unit_std_latents():
    ae = small()
    with torch.no_grad():  # latents far from unit scale, as after training with a tiny KL weight
        ae.enc_out[-1].weight.mul_(7.0)
        ae.enc_out[-1].bias.add_(0.5)
        x = blobs(256, torch.Generator().manual_seed(2))
        scale = ae.estimate_scale_factor(x, 0)
        z = ae.encode(x).sample(torch.Generator().manual_seed(0))
        assert scale == pytest.approx(1 / z.double().std().item(), rel=1e-6)
        assert ae.config["scale_factor"] == scale
        same = ae.encode_latents(x, 1)
        fresh = ae.encode_latents(blobs(256, torch.Generator().manual_seed(3)), 1)
    assert same.std().item() == pytest.approx(1.0, abs=0.01)
    assert fresh.std().item() == pytest.approx(1.0, abs=0.1)
    torch.testing.assert_close(ae.decode_latents(same), ae.decode(same / scale))


@pytest.mark.slow
def test_short_training_run_reconstructs(tmp_path):
    torch.set_num_threads(1)  # a tiny network: a second thread costs more than it gives
    torch.manual_seed(0)
    held_out = blobs(64, torch.Generator().manual_seed(123))
    before = reconstruction_psnr(small(channel_mult=(1, 2)), held_out)
    out = train_autoencoder(blobs, out=tmp_path / "ae", steps=200, batch_size=8, lr=2e-3, channels=8,
                            channel_mult=(1, 2), groups=4, warmup=10, eval_images=64, scale_images=64,
                            checkpoint_every=200, log_every=50, data={"name": "blobs"}, progress=False)
    ae, cfg = load_autoencoder(out)
    after = reconstruction_psnr(ae, held_out)
    assert after > before + 5, (before, after)  # mean squared error down by more than 3x
    t = cfg["training"]
    assert t["steps_done"] == 200 and t["psnr"] == pytest.approx(after, abs=1.5)
    assert cfg["net"]["scale_factor"] == t["scale_factor"] > 0 and cfg["data"]["shape"] == [3, 16, 16]
    with torch.no_grad():
        assert ae.encode_latents(held_out, 0).std().item() == pytest.approx(1.0, abs=0.15)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "rec" in r]
    assert [r["step"] for r in steps] == [50, 100, 150, 200]
    assert steps[-1]["rec"] < 0.7 * steps[0]["rec"]
    assert [r["psnr"] for r in log if "psnr" in r] == [t["psnr"]]
    assert (out / "loss.png").is_file() and read_checkpoint(out / "checkpoint.safetensors").step == 200


@pytest.mark.slow
def test_resume_equals_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    kw = dict(steps=8, batch_size=4, channels=8, channel_mult=(1, 2), groups=4, warmup=3, eval_images=4,
              scale_images=4, checkpoint_every=4, log_every=2, crop=8, progress=False)
    train_autoencoder(blobs, out=tmp_path / "full", **kw)
    calls = []

    def killed_after_step_5(n, g):  # 2 draws for the eval and scale sets, then one per step
        calls.append(n)
        if len(calls) == 2 + 6:
            raise KeyboardInterrupt
        return blobs(n, g)

    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(killed_after_step_5, out=tmp_path / "cut", **kw)
    assert read_checkpoint(tmp_path / "cut/checkpoint.safetensors").step == 4
    train_autoencoder(blobs, out=tmp_path / "cut", resume=True, **kw)
    full, cut = (read_checkpoint(tmp_path / f"{name}/checkpoint.safetensors") for name in ("full", "cut"))
    assert cut.step == full.step == 8
    for k in full.model:
        assert torch.equal(cut.model[k], full.model[k]), k
    log = [json.loads(line) for line in (tmp_path / "cut/train_log.jsonl").read_text().splitlines()]
    assert [(r["step"], "psnr" in r) for r in log] == [(2, False), (4, False), (4, True), (6, False), (8, False), (8, True)]


def test_trainer_errors(tmp_path):
    kw = dict(steps=1, batch_size=2, channels=8, groups=4, eval_images=2, scale_images=2, progress=False)
    with pytest.raises(ValueError, match=r"images in \[-1, 1\], got values in \[0"):
        train_autoencoder(lambda n, g: 2 * torch.rand(n, 3, 16, 16, generator=g), out=tmp_path / "a", **kw)
    with pytest.raises(ValueError, match=r"must return a tensor of shape \(2, C, H, W\)"):
        train_autoencoder(lambda n, g: torch.zeros(n, 16, 16), out=tmp_path / "b", **kw)
    with pytest.raises(ValueError, match="divisible by the downsampling factor 4"):
        train_autoencoder(lambda n, g: torch.zeros(n, 3, 18, 18), out=tmp_path / "c", **kw)
    with pytest.raises(ValueError, match="and crop=6 must be divisible by the downsampling factor 4"):
        train_autoencoder(blobs, out=tmp_path / "c", crop=6, **kw)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train_autoencoder(blobs, out=tmp_path / "d", resume=True, **kw)
    train_autoencoder(blobs, out=tmp_path / "e", **kw)
    with pytest.raises(FileExistsError, match="already holds a model or run.*--overwrite"):
        train_autoencoder(blobs, out=tmp_path / "e", **kw)
    with pytest.raises(ValueError, match="different run.*kl_weight"):
        train_autoencoder(blobs, out=tmp_path / "e", resume=True, **{**kw, "steps": 2}, kl_weight=1e-3)


def test_loss_terms():
    ae = small()
    x = blobs(4, torch.Generator().manual_seed(0))
    loss, rec, kl = autoencoder_loss(ae, x, torch.Generator().manual_seed(0), kl_weight=0.5)
    q = ae.encode(x)
    torch.testing.assert_close(kl, q.kl().mean() / (3 * 16 * 16))
    torch.testing.assert_close(loss, rec + 0.5 * kl)
    assert math.isfinite(loss.item())
    x_hat = ae.decode(q.sample(torch.Generator().manual_seed(0)))
    torch.testing.assert_close(rec, (x_hat - x).square().mean())
    _, l1, _ = autoencoder_loss(ae, x, torch.Generator().manual_seed(0), reconstruction="l1")
    torch.testing.assert_close(l1, (x_hat - x).abs().mean())
    with pytest.raises(ValueError, match="unknown reconstruction loss 'l3'"):
        autoencoder_loss(ae, x, reconstruction="l3")


def test_crop_each():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    c = crop_each(x, 4, torch.Generator().manual_seed(0))
    assert c.shape == (2, 3, 4, 4)
    for img, crop in zip(x, c):  # each crop is a contiguous window of its own image
        i, j = divmod(int(crop[0, 0, 0]) % 36, 6)
        assert torch.equal(crop, img[:, i:i + 4, j:j + 4])
    assert torch.equal(c, crop_each(x, 4, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="crop=8 must be positive and at most the image side 6"):
        crop_each(x, 8, torch.Generator())


def _close_trajectory(got: dict, want: dict, start: dict, lr: float) -> None:
    """Equal up to float round-off amplified by Adam (tests/test_engine.py::assert_same_trajectory)."""
    g, w, s = (torch.cat([d[k].flatten().double() for k in sorted(start)]) for d in (got, want, start))
    assert (g - w).norm() < 1e-3 * (w - s).norm() and (g - w).abs().max() < 0.05 * lr


def test_autoencoder_loss_under_fit_does_not_depend_on_the_cut():
    """The reparameterisation noise is drawn for the global batch (AutoencoderLoss.draw):
    2 micro-batches of 2 follow one batch of 4; another seed does not."""
    from difflab.train import fit
    from difflab.train.autoencoder import AutoencoderLoss

    torch.set_num_threads(1)
    kw = {"steps": 3, "batch_size": 4, "lr": 1e-3, "warmup": 1, "ema_half_life": None, "grad_clip": 1.0,
          "progress": False}
    start = small(channel_mult=(1, 2)).state_dict()
    one, two, other = (small(channel_mult=(1, 2)) for _ in range(3))
    r1 = fit(one, blobs, loss=AutoencoderLoss(one), accumulate=1, **kw)
    r2 = fit(two, blobs, loss=AutoencoderLoss(two), accumulate=2, **kw)
    _close_trajectory(two.state_dict(), one.state_dict(), start, kw["lr"])
    assert r2.losses == pytest.approx(r1.losses, rel=1e-5)
    fit(other, blobs, loss=AutoencoderLoss(other), seed=1, **kw)
    with pytest.raises(AssertionError):
        _close_trajectory(other.state_dict(), one.state_dict(), start, kw["lr"])


AE_DDP_SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
from test_autoencoder import blobs
from difflab.train import world
from difflab.train.autoencoder import train_autoencoder
torch.set_num_threads(1)
train_autoencoder(blobs, out={out!r}, **{kw!r})  # it joins torchrun's process group itself
assert world().size == 2
"""


@pytest.mark.slow
def test_trainer_under_two_processes_equals_one(tmp_path):
    """torchrun with 2 processes (gloo) trains the same autoencoder as one process with the
    same global batch (up to float round-off amplified by Adam); only rank 0 writes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    kw = {"steps": 4, "batch_size": 4, "lr": 1e-3, "channels": 8, "channel_mult": (1, 2), "groups": 4, "warmup": 1,
          "eval_images": 4, "scale_images": 4, "checkpoint_every": 2, "crop": 8, "progress": False}
    script = tmp_path / "ddp.py"
    script.write_text(AE_DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path / "ddp"), kw=kw))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(script)], capture_output=True, text=True, timeout=300, env=env, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    torch.set_num_threads(1)
    train_autoencoder(blobs, out=tmp_path / "one", **kw)
    ddp, one = (read_checkpoint(tmp_path / name / "checkpoint.safetensors") for name in ("ddp", "one"))
    assert ddp.step == one.step == 4 and {"torch/0", "torch/1"} <= set(ddp.rng)
    start = small(channel_mult=(1, 2)).state_dict()  # seed 0, as the trainer's initial weights
    _close_trajectory(ddp.model, one.model, start, kw["lr"])
    logs = [[json.loads(line) for line in (tmp_path / name / "train_log.jsonl").read_text().splitlines()]
            for name in ("ddp", "one")]
    for a, b in zip(*logs):
        for key in ("loss", "rec", "kl", "psnr"):
            assert (a.get(key) is None) == (b.get(key) is None)
            if a.get(key) is not None:
                assert a[key] == pytest.approx(b[key], rel=1e-3), key
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


def test_decoder_only_fine_tune_keeps_the_latent_space(tmp_path):
    """--decoder-only: the encoder's weights and the latent scale are the init's, bit for bit, so a
    denoiser trained on the init's latents still fits; the decoder alone learns (its loss falls)."""
    torch.set_num_threads(1)
    held_out = blobs(32, torch.Generator().manual_seed(123))
    kw = dict(batch_size=8, lr=2e-3, channels=8, channel_mult=(1, 2), groups=4, warmup=5, eval_images=32,
              scale_images=32, log_every=20, progress=False)
    train_autoencoder(blobs, out=tmp_path / "a", steps=60, checkpoint_every=60, **kw)
    start, start_cfg = load_autoencoder(tmp_path / "a")
    with pytest.raises(ValueError, match="give init"):
        train_autoencoder(blobs, out=tmp_path / "x", steps=1, decoder_only=True, **kw)
    train_autoencoder(blobs, out=tmp_path / "b", steps=80, checkpoint_every=40, init=tmp_path / "a",
                      decoder_only=True, **kw)
    ae, cfg = load_autoencoder(tmp_path / "b")
    old, new = start.state_dict(), ae.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old if k.startswith("enc_"))
    assert not all(torch.equal(old[k], new[k]) for k in old if k.startswith("dec_"))
    assert cfg["net"]["scale_factor"] == start_cfg["net"]["scale_factor"] and cfg["training"]["decoder_only"]
    with torch.no_grad():
        assert torch.equal(ae.encode_latents(held_out, mode=True), start.encode_latents(held_out, mode=True))
    assert cfg["training"]["psnr"] > start_cfg["training"]["psnr"]

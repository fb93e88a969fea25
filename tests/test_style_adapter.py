"""The style adapter (IP-Adapter's decoupled cross-attention, Ye et al. 2023) for --style-ref."""

import json

import numpy as np
import pytest
import torch

from difflab.data import shapes as S
from difflab.nets.style_adapter import StyleAdapter, cross_attention_blocks, image_prompt
from difflab.pipelines.style_adapter import adapted, load_style_adapter, save_style_adapter
from difflab.pipelines.style_adapter_training import train_style_adapter
from test_text_to_image import _tiny_pipeline as _tiny


def _tiny_pipeline(seed: int = 0):
    """The tests' tiny pipeline with a text encoder long enough for every training caption."""
    from difflab.text import HashingTextEncoder

    pipe = _tiny(seed)
    pipe.text_encoder = HashingTextEncoder(dim=32, max_length=48)
    return pipe


def _reference(style="striped", size=32, index=2):
    import dataclasses

    return S.render(dataclasses.replace(S.make_scene(0, index), style=style), size)


def _inputs(pipe):
    """(cond, x, sigma, references) of two samples for one call of an adapted network."""
    cond = pipe.encode_prompts(["a red circle", "a blue square"])
    x = torch.randn(2, *pipe.latent_shape, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([3.0, 0.5], dtype=torch.float64)
    ref = torch.tensor(np.stack([_reference(), _reference("glow")])).permute(0, 3, 1, 2).float() / 127.5 - 1
    return cond, x, sigma, ref


def _weight_zero_is_the_base(pipe, adapter):
    """A trained ``adapter`` changes the output with a reference at w = 1 and is the base at w = 0."""
    model = adapted(pipe.denoiser, adapter)
    cond, x, sigma, ref = _inputs(pipe)
    with torch.no_grad():
        base = pipe.denoiser(x, sigma, **cond)
        torch.testing.assert_close(model(x, sigma, **cond, style_image=ref, style_weight=0.0), base,
                                   atol=1e-5, rtol=1e-5)
        assert not torch.allclose(model(x, sigma, **cond, style_image=ref), base, atol=1e-4)


def test_an_adapter_starts_as_the_base_and_weight_zero_is_the_base():
    """The head's last layer starts at zero, so the tokens, and with them the image prompt's keys
    and values, are 0 and the branch adds exactly nothing; once trained, w = 0 is still the base."""
    pipe = _tiny_pipeline()
    adapter = StyleAdapter(pipe.denoiser.net)
    model = adapted(pipe.denoiser, adapter)
    cond, x, sigma, ref = _inputs(pipe)
    with torch.no_grad():
        base = pipe.denoiser(x, sigma, **cond)
        assert torch.equal(model(x, sigma, **cond, style_image=ref), base)
        for p in adapter.encoder.head[-1].parameters():  # as if trained
            p.add_(0.1 * torch.randn_like(p))
        styled = model(x, sigma, **cond, style_image=ref)
        assert not torch.allclose(styled, base, atol=1e-4)
        assert torch.equal(model(x, sigma, **cond, style_image=ref, style_weight=torch.zeros(2)), base)
        # per-sample weights: sample 0 styled, sample 1 the base
        mixed = model(x, sigma, **cond, style_image=ref, style_weight=torch.tensor([1.0, 0.0]))
        torch.testing.assert_close(mixed[0], styled[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(mixed[1], base[1], atol=1e-6, rtol=1e-5)
    assert all(b.image_prompt is None for b in cross_attention_blocks(pipe.denoiser.net))  # left as it was


def test_decoupled_attention_is_text_attention_plus_w_times_image_attention():
    """IP-Adapter's eq. 5 in one layer: with image-prompt keys and values equal to the text's
    (unmasked), the image branch equals the text branch, so the layer computes
    proj(Attention(Q, K, V) (1 + w)) where the plain layer computes proj(Attention(Q, K, V))."""
    torch.manual_seed(0)
    pipe = _tiny_pipeline()
    (block, *_) = cross_attention_blocks(pipe.denoiser.net)
    ch = block.q_x.in_features
    h = torch.randn(2, ch, 4, 4)
    context = torch.randn(2, 5, block.kv_x.in_features)
    k, v = block.kv_x(context).chunk(2, dim=-1)
    w = torch.tensor([0.5, 2.0])
    with torch.no_grad():
        plain = block(h, context)
        with image_prompt([block], w, decoupled=[(k, v)]):
            both = block(h, context)
        own = block(h, None)  # the self-attention branch alone
    # the cross branch adds proj(z) = W z + b with z = a (plain) or (1 + w) a (both)
    b = block.proj_x.bias[None, :, None, None]
    expected = own + b + (1 + w)[:, None, None, None] * (plain - own - b)
    torch.testing.assert_close(both, expected, atol=1e-4, rtol=1e-4)


def test_joint_attention_is_the_text_attention_over_the_tokens_appended():
    """Tokens that join the text's cross-attention (``attention="joint"``) are extra words: at w = 1
    the layer equals the plain layer given the context with the tokens appended (through the
    layer's own key and value projection), at w = 2 the tokens appended twice (a logit raised by
    log 2 is a key counted twice), at w = 0 the text alone; masked text tokens stay hidden."""
    torch.manual_seed(0)
    pipe = _tiny_pipeline()
    (block, *_) = cross_attention_blocks(pipe.denoiser.net)
    h = torch.randn(3, block.q_x.in_features, 4, 4)
    context = torch.randn(3, 5, block.kv_x.in_features)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False], [True] * 5])
    tokens = torch.randn(3, 2, block.kv_x.in_features)
    k, v = block.kv_x(tokens).chunk(2, dim=-1)
    ones = torch.ones(3, 2, dtype=torch.bool)
    with torch.no_grad():
        with image_prompt([block], torch.tensor([1.0, 2.0, 0.0]), joint=[(k, v)]):
            joint = block(h, context, mask)
        once = block(h, torch.cat([context, tokens], 1), torch.cat([mask, ones], 1))
        twice = block(h, torch.cat([context, tokens, tokens], 1), torch.cat([mask, ones, ones], 1))
        alone = block(h, context, mask)
    torch.testing.assert_close(joint[0], once[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(joint[1], twice[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(joint[2], alone[2], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(once[0], alone[0], atol=1e-3)


def test_a_joint_adapter_trains_saves_and_loads(tmp_path):
    """``attention="joint"``: no projections of its own, the encoder's tokens through the layers'
    own; w = 0 is the base; saved and loaded with its mode."""
    pipe = _tiny_pipeline()
    path = train_style_adapter(pipe, out=tmp_path / "run", styles=["flat", "striped"], scenes=16, steps=2,
                               batch_size=4, checkpoint_every=2, progress=False, attention="joint")
    adapter, meta = load_style_adapter(path, pipe.denoiser.net)
    assert adapter.attention == "joint" and len(adapter.kv) == 0 and meta["config"]["attention"] == "joint"
    assert meta["training"]["attention"] == "joint"
    _weight_zero_is_the_base(pipe, adapter)
    with pytest.raises(ValueError, match="attention must be one of"):
        StyleAdapter(pipe.denoiser.net, attention="shared")


def test_both_paths_add_the_decoupled_term_to_the_joint_attention():
    """``attention="both"`` in one layer: the joint tokens join the text's softmax and the decoupled
    term is added after it, so (both - joint alone) = (decoupled alone - plain): the output
    projection is linear in what it receives. Neither given is refused."""
    torch.manual_seed(0)
    pipe = _tiny_pipeline()
    (block, *_) = cross_attention_blocks(pipe.denoiser.net)
    h = torch.randn(2, block.q_x.in_features, 4, 4)
    context = torch.randn(2, 5, block.kv_x.in_features)
    dec = tuple(torch.randn(2, 3, block.q_x.in_features) for _ in range(2))
    joint = block.kv_x(torch.randn(2, 2, block.kv_x.in_features)).chunk(2, dim=-1)
    w = torch.tensor([1.0, 0.5])
    with torch.no_grad():
        plain = block(h, context)
        with image_prompt([block], w, decoupled=[dec], joint=[joint]):
            both = block(h, context)
        with image_prompt([block], w, joint=[joint]):
            joint_alone = block(h, context)
        with image_prompt([block], w, decoupled=[dec]):
            decoupled_alone = block(h, context)
    torch.testing.assert_close(both - joint_alone, decoupled_alone - plain, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(joint_alone, plain, atol=1e-4) and not torch.allclose(decoupled_alone, plain, atol=1e-4)
    with pytest.raises(ValueError, match="decoupled or joint"):
        with image_prompt([block], w):
            pass
    assert block.image_prompt is None


def test_both_starts_from_a_decoupled_and_a_joint_adapter(tmp_path):
    """Two init files, a decoupled and a joint adapter, start an ``attention="both"`` run: its
    tokens are the decoupled encoder's then the joint one's, and at the start it computes the
    decoupled term and the joint tokens together (checked against the layers given both by hand);
    it trains, saves, loads; w = 0 is the base. Two adapters of one kind are refused in one line."""
    pipe = _tiny_pipeline()
    net = pipe.denoiser.net
    files = {}
    for kind in ("decoupled", "joint"):
        files[kind] = train_style_adapter(pipe, out=tmp_path / kind, styles=["flat", "striped"], scenes=16, steps=2,
                                          batch_size=4, checkpoint_every=2, progress=False, attention=kind)
    dec, _ = load_style_adapter(files["decoupled"], net)
    joint, _ = load_style_adapter(files["joint"], net)
    both = StyleAdapter.both(net, dec, joint)
    cond, x, sigma, ref = _inputs(pipe)
    blocks = cross_attention_blocks(net)
    with torch.no_grad():
        tokens = both.encode(ref)
        torch.testing.assert_close(tokens, torch.cat([dec.encoder(ref), joint.encoder(ref)], 1))
        w = torch.ones(2)
        with image_prompt(blocks, w, decoupled=dec.keys_values(dec.encoder(ref), blocks)["decoupled"],
                          joint=joint.keys_values(joint.encoder(ref), blocks)["joint"]):
            by_hand = pipe.denoiser(x, sigma, **cond)
        torch.testing.assert_close(adapted(pipe.denoiser, both)(x, sigma, **cond, style_image=ref), by_hand)
    file = train_style_adapter(pipe, out=tmp_path / "both", styles=["flat", "striped"], scenes=16, steps=2,
                               batch_size=4, checkpoint_every=2, progress=False,
                               init=[files["joint"], files["decoupled"]])
    adapter, meta = load_style_adapter(file, net)
    assert adapter.attention == "both" and meta["config"]["attention"] == "both"
    assert set(meta["training"]["init_training"]) == {"decoupled", "joint"}
    _weight_zero_is_the_base(pipe, adapter)
    with torch.no_grad(), pytest.raises(ValueError, match="reads 8 tokens"):
        adapted(pipe.denoiser, adapter)(x, sigma, **cond, style_tokens=tokens[:, :4])
    with pytest.raises(ValueError, match="a decoupled and a joint"):
        train_style_adapter(pipe, out=tmp_path / "no", styles=["flat", "striped"], scenes=16, steps=1, batch_size=4,
                            progress=False, init=[files["joint"], files["joint"]])
    assert not (tmp_path / "no").exists()


def test_the_style_word_target_is_the_teachers_prediction():
    """The "style-word" loss is the mean squared error between the adapted network and the frozen
    pipeline given the teacher's caption, at the same x_t and t: 0 for an adapter that starts as
    the base when the teacher reads the content caption itself; otherwise the error computed by
    hand."""
    from difflab.pipelines.style_adapter_training import TEACHER, StyleWordTarget

    pipe = _tiny_pipeline()
    model = adapted(pipe.denoiser, StyleAdapter(pipe.denoiser.net))
    content = pipe.encode_prompts(["a red circle", "a blue square"])
    named = pipe.encode_prompts(["a red circle in glow style", "a blue square in striped style"])
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, *pipe.latent_shape, generator=g)
    ref = torch.tensor(np.stack([_reference("glow"), _reference()])).permute(0, 3, 1, 2).float() / 127.5 - 1
    loss = StyleWordTarget(pipe.denoiser)
    _, noise = loss.draw(x0, content, g)
    same = {**content, "style_image": ref, **{TEACHER + k: v for k, v in content.items()}}
    other = {**content, "style_image": ref, **{TEACHER + k: v for k, v in named.items()}}
    with torch.no_grad():
        assert float(loss(model.net, x0, same, noise)) == 0.0
        t = noise["t"]
        alpha, sigma = (f(t).view(-1, 1, 1, 1).float() for f in (pipe.denoiser.schedule.alpha, pipe.denoiser.schedule.sigma))
        x_t = alpha * x0 + sigma * noise["noise"]
        by_hand = (model.net_output(x_t, t, **content, style_image=ref) - pipe.denoiser.net_output(x_t, t, **named)).pow(2).mean()
        torch.testing.assert_close(loss(model.net, x0, other, noise), by_hand, atol=1e-6, rtol=1e-5)


def test_train_with_the_style_word_target(tmp_path):
    """The distillation trains (finite loss, the encoder moves) on a pipeline whose captions named
    the styles; refused where they did not, and with caption dropout."""
    pipe = _tiny_pipeline()
    with pytest.raises(ValueError, match="trained to name"):
        train_style_adapter(pipe, out=tmp_path / "no", styles=["flat", "glow"], scenes=16, steps=1, batch_size=4,
                            progress=False, target="style-word")
    pipe.config = {**pipe.config, "data": {"name": "shapes"}, "training": {"styles": ["flat", "glow"]}}
    with pytest.raises(ValueError, match="p_uncond must be 0"):
        train_style_adapter(pipe, out=tmp_path / "no", styles=["flat", "glow"], scenes=16, steps=1, batch_size=4,
                            progress=False, target="style-word", p_uncond=0.1)
    file = train_style_adapter(pipe, out=tmp_path / "run", styles=["flat", "glow"], scenes=16, steps=2, batch_size=4,
                               checkpoint_every=2, progress=False, target="style-word", attention="joint")
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in log) and all(np.isfinite(r["loss"]) for r in log if "loss" in r)
    adapter, meta = load_style_adapter(file, pipe.denoiser.net)
    assert meta["training"]["target"] == "style-word" and meta["training"]["p_uncond"] == 0.0
    assert adapter.encoder.head[-1].weight.abs().sum() > 0


def test_train_a_style_adapter_save_load_and_generate(tmp_path):
    pipe = _tiny_pipeline()
    assert not pipe.denoiser.net.training
    file = train_style_adapter(pipe, out=tmp_path / "run", styles=["flat", "outline", "striped"], scenes=24, steps=3,
                               batch_size=6, checkpoint_every=3, progress=False)
    assert file.name == "style_adapter.safetensors" and file.stat().st_size < 8 * 2**20
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in log if "loss" in r)
    adapter, meta = load_style_adapter(file, pipe.denoiser.net)
    assert not pipe.denoiser.net.training  # in eval mode, as before the training
    assert meta["training"]["steps_done"] == 3 and meta["training"]["styles"] == ["flat", "outline", "striped"]
    assert adapter.encoder.head[-1].weight.abs().sum() > 0  # the gradient reached the encoder
    assert all(p.requires_grad for p in pipe.denoiser.net.parameters())  # the base is as it was
    # a folder carrying the adapter uses it for --style-ref by default; shared attention on request
    folder = pipe.save(tmp_path / "pipe")
    (folder / "style_adapter.safetensors").write_bytes(file.read_bytes())
    from difflab.pipelines.text_to_image import TextToImagePipeline

    again = TextToImagePipeline.load(folder)
    plain = again(["a red circle"], seed=1, output="tensor")
    styled, info = again(["a red circle"], seed=1, output="tensor", style_ref=_reference(), return_info=True)
    assert info.settings["style_method"] == "adapter" and not torch.allclose(plain, styled)
    _, info = again(["a red circle"], seed=1, style_ref=_reference(), style_method="shared", return_info=True)
    assert info.settings["style_method"] == "shared"
    # another model refuses it
    other = _tiny_pipeline(seed=1)
    with pytest.raises(ValueError, match="trained on another model"):
        load_style_adapter(file, other.denoiser.net)
    with pytest.raises(ValueError, match="no style adapter"):
        other(["a red circle"], style_ref=_reference(), style_method="adapter")


def test_style_adapter_files_and_bad_input(tmp_path):
    pipe = _tiny_pipeline()
    from difflab.nets.lora import fingerprint

    path = save_style_adapter(tmp_path / "a.safetensors", StyleAdapter(pipe.denoiser.net),
                              fingerprint(pipe.denoiser.net), dtype=torch.float16)
    adapter, _ = load_style_adapter(path, pipe.denoiser.net)
    assert adapter.kv[0].weight.dtype == torch.float32
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a style adapter file"):
        load_style_adapter(tmp_path / "junk.safetensors", pipe.denoiser.net)
    with pytest.raises(ValueError, match="two or more styles"):
        train_style_adapter(pipe, out=tmp_path / "r1", styles=["flat"], scenes=8, steps=1)
    with pytest.raises(ValueError, match="p_uncond"):
        train_style_adapter(pipe, out=tmp_path / "r2", styles=["flat", "glow"], p_uncond=1.0)
    # a readable file whose metadata does not describe an adapter of this network: one line, not a KeyError
    from difflab.io.weights import save_weights

    save_weights(tmp_path / "odd.safetensors", {"w": torch.zeros(1)}, metadata={
        "difflab_style_adapter": json.dumps({"config": {"tokens": 4}, "fingerprint": fingerprint(pipe.denoiser.net)})})
    with pytest.raises(ValueError, match="do not fit the adapter"):
        load_style_adapter(tmp_path / "odd.safetensors", pipe.denoiser.net)
    pipe.style_adapter = StyleAdapter(pipe.denoiser.net)
    with pytest.raises(ValueError, match="style weight must be a finite number >= 0"):
        pipe(["a red circle"], steps=1, style_ref=_reference(), style_weight=float("nan"))


def test_the_fingerprint_of_a_pipeline_and_its_float16_copy_agree(tmp_path):
    from difflab.nets.lora import fingerprint
    from difflab.pipelines.text_to_image import TextToImagePipeline

    pipe = _tiny_pipeline()
    half = TextToImagePipeline.load(pipe.save(tmp_path / "half", dtype=torch.float16))
    assert fingerprint(half.denoiser.net) == fingerprint(pipe.denoiser.net)
    assert fingerprint(_tiny_pipeline(seed=1).denoiser.net) != fingerprint(pipe.denoiser.net)


def test_the_adapter_with_style_words_stylize_learned_styles_frames_and_batches():
    """The reference reaches every branch but guidance's unconditional one: under plain guidance
    (2N), under --stylize's three branches (3N), with a LoRA style applied, in a wide frame, and
    image i of a batch is the image of a batch of one with seed + i."""
    from difflab.nets.lora import add_lora, remove_lora

    pipe = _tiny_pipeline()
    pipe.style_adapter = StyleAdapter(pipe.denoiser.net)
    with torch.no_grad():
        for p in pipe.style_adapter.encoder.head[-1].parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref = _reference()
    prompts = ["a red circle", "a blue square on the left"]
    batch = pipe(prompts, seed=4, output="tensor", style_ref=ref)
    for i, prompt in enumerate(prompts):
        torch.testing.assert_close(pipe([prompt], seed=4 + i, output="tensor", style_ref=ref)[0], batch[i],
                                   atol=2e-5, rtol=1e-4)
    plain = pipe(prompts, seed=4, output="tensor", style="glow", stylize=2.0)
    styled, info = pipe(prompts, seed=4, output="tensor", style="glow", stylize=2.0, style_ref=ref, return_info=True)
    assert not torch.allclose(plain, styled) and info.settings["style_method"] == "adapter"
    wide = pipe(["a red circle"], seed=1, aspect="3:2", style_ref=ref)
    assert wide.shape == (1, 32, 48, 3)
    add_lora(pipe.denoiser.net)  # a learned style's adapters on the same cross-attention layers
    try:
        assert pipe(["a red circle"], seed=1, steps=2, style_ref=ref).shape == (1, 32, 32, 3)
    finally:
        remove_lora(pipe.denoiser.net)
    pipe.to("cpu")  # the adapter moves with the pipeline
    assert next(pipe.style_adapter.parameters()).device.type == "cpu"


def test_style_adapter_cli(tmp_path, capsys):
    from difflab.cli import main
    from PIL import Image

    folder = _tiny_pipeline().save(tmp_path / "pipe")
    assert main(["train", "style-adapter", "--model", str(folder), "--out", str(tmp_path / "run"), "--styles",
                 "flat,glow", "--scenes", "12", "--steps", "2", "--batch-size", "4", "--style-sigma", "3", "--quiet"]) == 0
    file = tmp_path / "run" / "style_adapter.safetensors"
    assert "saved style adapter" in capsys.readouterr().out and file.is_file()
    assert load_style_adapter(file, _tiny_pipeline().denoiser.net)[1]["training"]["style_sigma"] == 3.0
    # --init with a decoupled and a joint adapter: one of both pathways
    train = ["train", "style-adapter", "--model", str(folder), "--styles", "flat,glow", "--scenes", "12", "--steps", "1",
             "--batch-size", "4", "--quiet"]
    assert main([*train, "--attention", "joint", "--out", str(tmp_path / "joint")]) == 0
    assert main([*train, "--init", str(file), str(tmp_path / "joint" / "style_adapter.safetensors"),
                 "--out", str(tmp_path / "both")]) == 0
    both, _ = load_style_adapter(tmp_path / "both" / "style_adapter.safetensors", _tiny_pipeline().denoiser.net)
    assert both.attention == "both"
    capsys.readouterr()
    ref = tmp_path / "ref.png"
    Image.fromarray(_reference("glow")).save(ref)
    assert main(["generate", "a red circle", "--model", str(folder), "-n", "1", "--steps", "2", "--style-ref", str(ref),
                 "--style-adapter", str(file), "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 1
    report = tmp_path / "eval.json"
    assert main(["eval-t2i", "--model", str(folder), "--n", "1", "--guidance", "3", "--steps", "2", "--style-refs",
                 "glow", "--style-adapter", str(file), "--out", str(report), "--quiet"]) == 0
    assert json.loads(report.read_text())["results"]["3"]["settings"]["style_method"] == "adapter"
    capsys.readouterr()
    assert main(["eval-t2i", "--model", str(folder), "--n", "1", "--style-method", "shared"]) == 2
    assert "give --style-ref" in capsys.readouterr().err
    assert main(["generate", "a red circle", "--model", str(folder), "--style-ref", str(ref), "--style-adapter",
                 str(file), "--style-method", "shared", "--out", str(tmp_path / "two")]) == 2
    assert "give one of them" in capsys.readouterr().err and not (tmp_path / "two").exists()
    # one-line refusals that write nothing
    for extra, message in ((["--style-ref", str(ref), "--style-method", "adapter"], "no style adapter"),
                           (["--style-method", "shared"], "give --style-ref"),
                           (["--style-ref", str(ref), "--style-adapter", str(tmp_path / "none.safetensors")],
                            "no style adapter file")):
        out = tmp_path / f"bad{len(message)}"
        assert main(["generate", "a red circle", "--model", str(folder), "--steps", "2", *extra, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not list(out.glob("*.png")) if out.exists() else True


def test_an_adapter_follows_its_base_when_the_base_is_trained_further(tmp_path):
    """``init``: a fine-tune starts from an adapter trained on an earlier state of the base (whose
    fingerprint no longer matches), keeps its tokens and attention, and records where it began;
    without ``init`` the old file is refused on the new base."""
    from difflab.nets.lora import fingerprint

    pipe, later = _tiny_pipeline(), _tiny_pipeline(seed=1)
    first = train_style_adapter(pipe, out=tmp_path / "a", styles=["flat", "striped"], scenes=16, steps=2,
                                batch_size=4, checkpoint_every=2, progress=False, tokens=2)
    with pytest.raises(ValueError, match="trained on another model"):
        load_style_adapter(first, later.denoiser.net)
    moved = train_style_adapter(later, out=tmp_path / "b", styles=["flat", "striped"], scenes=16, steps=1,
                                batch_size=4, checkpoint_every=1, progress=False, lr=1e-12, init=first)
    adapter, meta = load_style_adapter(moved, later.denoiser.net)
    assert meta["fingerprint"] == fingerprint(later.denoiser.net) and meta["config"]["tokens"] == 2
    assert meta["training"]["init"] == str(first) and meta["training"]["init_training"]["steps_done"] == 2
    start, _ = load_style_adapter(first, pipe.denoiser.net)
    for a, b in zip(adapter.state_dict().values(), start.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    with pytest.raises(FileNotFoundError, match="no style adapter file"):
        train_style_adapter(later, out=tmp_path / "c", styles=["flat", "striped"], scenes=16, steps=1,
                            init=tmp_path / "none.safetensors")
    assert not (tmp_path / "c").exists()


def test_a_reference_acts_only_at_noise_levels_up_to_style_sigma(tmp_path, capsys):
    """LateReference: above style_sigma each sample is the base network, at or below it the adapted
    one, per sample; the pipeline's default is REFERENCE_STYLE_SIGMA, style_sigma=0 is the image
    without a reference, inf the reference at every level; the CLI takes --style-sigma with
    --style-ref and refuses it, in one line, where no style or no adapter is given."""
    from difflab.pipelines.style_adapter import LateReference
    from difflab.pipelines.text_to_image import REFERENCE_STYLE_SIGMA

    pipe = _tiny_pipeline()
    adapter = StyleAdapter(pipe.denoiser.net)
    with torch.no_grad():
        for p in adapter.encoder.head[-1].parameters():  # as if trained
            p.add_(0.1 * torch.randn_like(p))
    model = adapted(pipe.denoiser, adapter)
    cond, x, sigma, ref = _inputs(pipe)  # sigma = (3.0, 0.5)
    with torch.no_grad():
        base, styled = pipe.denoiser(x, sigma, **cond), model(x, sigma, **cond, style_image=ref)
        late = LateReference(model, 1.0)(x, sigma, **cond, style_image=ref, style_weight=torch.ones(2))
    torch.testing.assert_close(late[0], base[0], atol=1e-6, rtol=1e-5)  # sigma 3 > 1: the base
    torch.testing.assert_close(late[1], styled[1], atol=1e-6, rtol=1e-5)  # sigma 0.5 <= 1: the reference
    assert LateReference(model, 1.0).schedule is pipe.denoiser.schedule
    with pytest.raises(ValueError, match="noise level >= 0"):
        LateReference(model, -1.0)

    pipe.style_adapter = adapter
    image = _reference()
    plain = pipe(["a red circle"], seed=3, steps=4, output="tensor")
    default, info = pipe(["a red circle"], seed=3, steps=4, output="tensor", style_ref=image, return_info=True)
    assert info.settings["style_sigma"] == REFERENCE_STYLE_SIGMA and not torch.allclose(default, plain, atol=1e-3)
    assert not torch.allclose(pipe(["a red circle"], seed=3, steps=3, output="tensor", style_ref=image),
                              pipe(["a red circle"], seed=3, steps=3, output="tensor"), atol=1e-2)  # the CLI's below
    every, info = pipe(["a red circle"], seed=3, steps=4, output="tensor", style_ref=image, style_sigma=float("inf"),
                       return_info=True)
    assert info.settings["style_sigma"] == float("inf") and not torch.allclose(every, plain, atol=1e-4)
    none = pipe(["a red circle"], seed=3, steps=4, output="tensor", style_ref=image, style_sigma=0.0)
    torch.testing.assert_close(none, plain, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="shared attention acts at every level"):
        pipe(["a red circle"], steps=2, style_ref=image, style_method="shared", style_sigma=1.0)
    with pytest.raises(ValueError, match="name one with style="):
        pipe(["a red circle"], steps=2, style_sigma=1.0)

    from difflab.cli import main
    from difflab.nets.lora import fingerprint
    from PIL import Image

    folder = pipe.save(tmp_path / "pipe")
    file = save_style_adapter(tmp_path / "a.safetensors", adapter, fingerprint(pipe.denoiser.net))
    png = tmp_path / "ref.png"
    Image.fromarray(image).save(png)
    for name, extra in (("plain", []), ("zero", ["--style-ref", str(png), "--style-adapter", str(file),
                                                 "--style-sigma", "0"])):
        assert main(["generate", "a red circle", "--model", str(folder), "--steps", "3", *extra,
                     "--out", str(tmp_path / name)]) == 0
    # --style-sigma reaches the pipeline: at 0 the reference acts nowhere
    read = [np.asarray(Image.open(next((tmp_path / name).glob("*.png")))).astype(int) for name in ("plain", "zero")]
    assert np.abs(read[0] - read[1]).max() <= 1
    capsys.readouterr()
    for extra, message in ((["--style-sigma", "1"], "name one with --style or --style-ref"),
                           (["--style-ref", str(png), "--style-method", "shared", "--style-sigma", "1"],
                            "shared attention acts at every level")):
        out = tmp_path / f"bad{len(message)}"
        assert main(["generate", "a red circle", "--model", str(folder), "--steps", "2", *extra, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()  # refused before the output folder is made


def test_an_adapter_trained_where_its_reference_acts(tmp_path):
    """LateTimes draws every time where sigma(t) <= style_sigma (on the table, the entries up to
    it, uniformly), leaves the rest of the draw as the loss made it, and the trainer records it."""
    from difflab.pipelines.style_adapter_training import LateTimes
    from difflab.train.loop import DenoisingLoss

    pipe = _tiny_pipeline()
    schedule = pipe.denoiser.schedule
    late = LateTimes(DenoisingLoss(pipe.denoiser), 2.5)
    x0 = torch.zeros(4000, *pipe.latent_shape)
    _, noise = late.draw(x0, {}, torch.Generator().manual_seed(0))
    sigma = schedule.ve_sigma(noise["t"])
    assert float(sigma.max()) <= 2.5 and noise["noise"].shape == x0.shape
    # uniform over the entries up to it: the highest one is reached, the lowest too
    index = schedule.index_from_t(noise["t"]).round()
    assert float(schedule.ve_sigma(schedule.t_from_index(index.max() + 1))) > 2.5 and index.min() == 0
    assert late.config["style_sigma"] == 2.5
    with pytest.raises(ValueError, match="noise level > 0"):
        LateTimes(DenoisingLoss(pipe.denoiser), 0.0)
    with pytest.raises(ValueError, match="noise level > 0"):  # refused before any work, nothing written
        train_style_adapter(pipe, out=tmp_path / "bad", styles=["flat", "glow"], scenes=12, steps=1, style_sigma=0.0)
    assert not (tmp_path / "bad").exists()
    file = train_style_adapter(pipe, out=tmp_path / "run", styles=["flat", "glow"], scenes=12, steps=2, batch_size=4,
                               checkpoint_every=2, progress=False, style_sigma=2.5)
    _, meta = load_style_adapter(file, pipe.denoiser.net)
    assert meta["training"]["style_sigma"] == 2.5


def test_keep_colours_with_an_adapted_reference_evaluates_the_unstyled_run_only_where_it_acts():
    """keep_colours with a reference through the adapter (acting at sigma <= REFERENCE_STYLE_SIGMA)
    is keep_hue(the borrowed image, the prompt drawn without the reference), and the unstyled run
    evaluates the denoiser only at the levels where the reference acts: above them the two runs
    follow one path (the adapter at w = 0 is the base), whose evaluations it is handed."""
    from difflab.colour import keep_hue
    from difflab.pipelines.text_to_image import REFERENCE_STYLE_SIGMA

    pipe = _tiny_pipeline()
    adapter = StyleAdapter(pipe.denoiser.net)
    torch.manual_seed(1)
    with torch.no_grad():  # a head that is not zero, so that the reference changes the image
        for p in adapter.parameters():
            p.add_(0.05 * torch.randn_like(p))
    pipe.style_adapter = adapter.eval()
    reference, prompts, levels = _reference(size=pipe.config["image_size"]), ["a red circle", "a blue square"], []
    borrowed, info = pipe(prompts, seed=2, steps=8, output="tensor", style_ref=reference, return_info=True,
                          callback=lambda step: levels.append(float(step["sigma"])))
    unstyled = pipe(prompts, seed=2, steps=8, output="tensor")
    assert not torch.allclose(borrowed, unstyled, atol=1e-3)
    kept, kept_info = pipe(prompts, seed=2, steps=8, output="tensor", style_ref=reference, keep_colours=True,
                           return_info=True)
    torch.testing.assert_close(kept, keep_hue(borrowed, unstyled), atol=1e-6, rtol=0)
    acting = sum(s <= REFERENCE_STYLE_SIGMA for s in levels)
    assert 0 < acting < len(levels) == info.nfe and kept_info.nfe == info.nfe + acting

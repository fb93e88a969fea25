"""diffusers-format model folders read by difflab (issue 18): tiny random-weight pipelines
built and saved here with diffusers' own save_pretrained, loaded by difflab, and checked
against diffusers: the same network outputs, the same noise tables, and difflab's DDIM
equal to diffusers' DDIMScheduler run on the same starting noise."""

import json
import subprocess
import sys

import pytest
import torch

diffusers = pytest.importorskip("diffusers", reason="the optional extra difflab[diffusers] (scripts/test.sh installs it)")

from difflab import sample  # noqa: E402
from difflab.grids import make_grid  # noqa: E402
from difflab.io.diffusers import schedule_from_diffusers  # noqa: E402
from difflab.io.folders import load_model  # noqa: E402
from difflab.pipelines.image import ImagePipeline  # noqa: E402

SIZE = 8


def tiny_unet(out_channels=3, seed=0):
    torch.manual_seed(seed)
    return diffusers.UNet2DModel(
        sample_size=SIZE, in_channels=3, out_channels=out_channels, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4, attention_head_dim=8).eval()


def save_pipeline(folder, unet, **scheduler_config):
    scheduler = diffusers.DDIMScheduler(**{"clip_sample": False, **scheduler_config})
    diffusers.DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(folder)
    return scheduler


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddpm")
    save_pipeline(path, tiny_unet())
    return path


def test_network_outputs_equal_diffusers(folder):
    denoiser, config = load_model(folder)
    unet = diffusers.UNet2DModel.from_pretrained(folder / "unet").eval()
    x = torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 17, 500, 999])
    with torch.no_grad():
        mine = denoiser.net_output(x, denoiser.schedule.t_from_index(t))
        theirs = unet(x, t).sample
    torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-5)
    assert config["task"] == "image" and config["data"]["shape"] == [3, SIZE, SIZE]
    assert config["source"]["format"] == "diffusers"


@pytest.mark.parametrize("scheduler_config", [
    {"beta_schedule": "linear"},
    {"beta_schedule": "linear", "num_train_timesteps": 500, "beta_start": 2e-4, "beta_end": 0.03},
    {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
    {"beta_schedule": "squaredcos_cap_v2"},
    {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "rescale_betas_zero_snr": True},
    {"trained_betas": torch.linspace(1e-4, 0.03, 300).tolist(), "num_train_timesteps": 300},
], ids=["linear", "linear-T500", "scaled_linear", "cosine", "zero-snr", "trained"])
def test_noise_tables_equal_diffusers(scheduler_config):
    theirs = diffusers.DDIMScheduler(**scheduler_config)
    schedule, prediction, _ = schedule_from_diffusers(dict(theirs.config))
    ab = theirs.alphas_cumprod.double()
    mine = schedule.alphas_cumprod
    assert prediction == "eps"
    if scheduler_config.get("rescale_betas_zero_snr"):  # the last entry: both substitute a finite level
        mine, ab = mine[:-1], ab[:-1]
    torch.testing.assert_close(mine, ab, rtol=1e-5, atol=1e-7)


def diffusers_ddim(unet, scheduler, noise, steps):
    scheduler.set_timesteps(steps)
    x = noise.clone()
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(unet(x, t).sample, t, x, eta=0.0).prev_sample
    return x


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
@pytest.mark.parametrize("spacing, offset", [("trailing", 0), ("leading", 0), ("leading", 1)])
def test_ddim_equals_diffusers_ddim(tmp_path, prediction_type, spacing, offset):
    unet = tiny_unet()
    # set_alpha_to_one: diffusers' last DDIM step then lands on the clean sample, as difflab's grids do
    scheduler = save_pipeline(tmp_path, unet, prediction_type=prediction_type, timestep_spacing=spacing,
                              steps_offset=offset, set_alpha_to_one=True, beta_schedule="scaled_linear",
                              beta_start=0.00085, beta_end=0.012)
    denoiser, config = load_model(tmp_path)
    assert config["sampling"]["timestep_spacing"] == spacing and config["sampling"]["steps_offset"] == offset
    noise = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    for steps in (10, 25):
        theirs = diffusers_ddim(unet, scheduler, noise, steps)
        sigmas = make_grid(denoiser.schedule, steps, spacing, **({"offset": offset} if offset else {}))
        mine = sample(denoiser, noise, "ddim", steps, sigmas=sigmas)
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-4)


def test_learned_variance_network_predicts_with_its_first_channels(tmp_path):
    unet = tiny_unet(out_channels=6)
    save_pipeline(tmp_path, unet)
    denoiser, _ = load_model(tmp_path)
    x = torch.randn(2, 3, SIZE, SIZE)
    t = torch.tensor([3, 700])
    with torch.no_grad():
        torch.testing.assert_close(denoiser.net_output(x, denoiser.schedule.t_from_index(t)), unet(x, t).sample[:, :3])


def test_every_sampler_and_the_image_pipeline_run_on_a_diffusers_model(folder):
    pipe = ImagePipeline.load(folder)
    images = pipe(2, seed=0, sampler="dpmpp-2m", steps=4)
    assert images.shape == (2, 3, SIZE, SIZE) and torch.isfinite(images).all()
    assert 0 <= float(images.min()) and float(images.max()) <= 1


def test_sample_command_on_a_diffusers_folder(folder, tmp_path):
    out = tmp_path / "grid.png"
    r = subprocess.run([sys.executable, "-m", "difflab.cli", "sample", "--model", str(folder), "-n", "2", "--steps", "3",
                        "--seed", "0", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.is_file()


# -- refusals: one line, before anything is loaded -------------------------------------


def copy_folder(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_pickled_only_weights_are_refused(folder, tmp_path):
    bad = copy_folder(folder, tmp_path / "pickled")
    weights = bad / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(bad / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(ValueError, match="holds only pickled weights .*reads safetensors only"):
        load_model(bad)


def test_missing_weights_are_an_error_never_a_download(folder, tmp_path):
    bad = copy_folder(folder, tmp_path / "missing")
    (bad / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_model(bad)


@pytest.mark.parametrize("key, value, message", [
    ("beta_schedule", "sigmoid", "beta_schedule 'sigmoid' is not supported"),
    ("prediction_type", "flow", "prediction_type 'flow' is not supported"),
    ("num_train_timesteps", "1000", "num_train_timesteps must be an integer"),
])
def test_scheduler_settings_difflab_cannot_honour_are_named(folder, tmp_path, key, value, message):
    bad = copy_folder(folder, tmp_path / "sched")
    path = bad / "scheduler" / "scheduler_config.json"
    config = json.loads(path.read_text())
    config[key] = value
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        load_model(bad)


def test_a_config_that_does_not_fit_the_weights_is_refused_before_loading(folder, tmp_path):
    bad = copy_folder(folder, tmp_path / "shape")
    path = bad / "unet" / "config.json"
    config = json.loads(path.read_text())
    config["block_out_channels"] = [8, 32]
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not belong together"):
        load_model(bad)


def test_a_text_to_image_folder_is_refused_with_a_message(folder, tmp_path):
    bad = copy_folder(folder, tmp_path / "t2i")
    index = json.loads((bad / "model_index.json").read_text())
    index.update(_class_name="StableDiffusionPipeline", unet=["diffusers", "UNet2DConditionModel"])
    (bad / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="text-to-image diffusers pipeline"):
        load_model(bad)


def test_tune_grid_stores_grids_beside_the_diffusers_files(folder, tmp_path):
    from difflab.cli import main

    work = copy_folder(folder, tmp_path / "tuned")
    main(["tune-grid", str(work), "--nfe", "4", "-n", "8", "--sweeps", "1"])
    denoiser, _ = load_model(work)
    assert ("unipc", 4) in denoiser.grids
    assert (work / "model_index.json").is_file()  # the diffusers files untouched


# -- text-to-image: a tiny Stable Diffusion layout -------------------------------------


def tiny_clip(folder):
    """A CLIP text model and a byte-level tokenizer (no merges) of random weights, saved."""
    import transformers

    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = [chr(b) for b in bs] + [chr(256 + i) for i in range(256 - len(bs))]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    torch.manual_seed(0)
    config = transformers.CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37,
                                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                                         pad_token_id=vocab["<|endoftext|>"])
    return transformers.CLIPTextModel(config).eval(), tokenizer


def save_sd(folder, prediction_type="epsilon", spacing="trailing"):
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, norm_num_groups=4, attention_head_dim=4).eval()
    vae = diffusers.AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                                  up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), latent_channels=4,
                                  norm_num_groups=4, sample_size=16).eval()
    text_model, tokenizer = tiny_clip(folder.parent / f"{folder.name}-clip-src")
    scheduler = diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                        clip_sample=False, set_alpha_to_one=True, prediction_type=prediction_type,
                                        timestep_spacing=spacing)
    pipe = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=text_model, tokenizer=tokenizer, unet=unet,
                                             scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                             requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return pipe


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_text_to_image_with_guidance_equals_the_diffusers_pipeline(tmp_path, prediction_type):
    from difflab.pipelines.text_to_image import TextToImagePipeline

    folder = tmp_path / "sd"
    theirs = save_sd(folder, prediction_type)
    mine = TextToImagePipeline.load(folder)
    assert mine.config["image_size"] == 16 and mine.latent_shape == (4, 8, 8)
    prompts = ["a red circle", "two blue squares"]
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = theirs(prompts, num_inference_steps=10, guidance_scale=4.0, latents=noise.clone(),
                          output_type="latent").images
    cond = mine.encode_prompts(prompts)
    got = sample(mine.guided(4.0), noise, "ddim", 10, sigmas=make_grid(mine.denoiser.schedule, 10, "trailing"), cond=cond)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    with torch.no_grad():  # and the decoder
        torch.testing.assert_close(mine.decode(got), theirs.vae.decode(got / 0.18215).sample.clamp(-1, 1),
                                   rtol=0, atol=1e-5)


def test_generate_command_on_a_stable_diffusion_folder(tmp_path):
    from difflab.cli import main

    folder = tmp_path / "sd"
    save_sd(folder)
    out = tmp_path / "out"
    main(["generate", "--model", str(folder), "a red circle", "-n", "2", "--steps", "3", "--sampler", "unipc",
          "--out", str(out)])
    assert len(list(out.glob("*.png"))) == 2


def test_edits_and_tune_grid_on_a_stable_diffusion_folder(tmp_path):
    import numpy as np
    from PIL import Image

    from difflab.cli import main
    from difflab.pipelines.text_to_image import TextToImagePipeline

    folder = tmp_path / "sd"
    save_sd(folder)
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype("uint8")).save(tmp_path / "img.png")
    mask = np.zeros((16, 16), dtype="uint8")
    mask[:, :8] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    main(["inpaint", "--model", str(folder), "--image", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"),
          "--prompt", "a red circle", "--steps", "4", "--out", str(tmp_path / "inpainted.png")])
    main(["img2img", "--model", str(folder), "--image", str(tmp_path / "img.png"), "--prompt", "a blue square",
          "--strength", "0.5", "--steps", "4", "--out", str(tmp_path / "edited.png")])
    assert (tmp_path / "inpainted.png").is_file() and (tmp_path / "edited.png").is_file()
    main(["tune-grid", str(folder), "--nfe", "4", "-n", "4", "--sweeps", "1"])
    assert ("unipc", 4) in TextToImagePipeline.load(folder).denoiser.grids


def test_an_over_long_prompt_is_one_line_error(tmp_path):
    from difflab.pipelines.text_to_image import TextToImagePipeline

    save_sd(tmp_path / "sd")
    pipe = TextToImagePipeline.load(tmp_path / "sd")
    with pytest.raises(ValueError, match="more than this text encoder's max_length=77"):
        pipe.encode_prompts(["word " * 80])


def test_eval_scores_a_diffusers_model_against_a_reference_folder(folder, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from difflab.cli import main

    rng = np.random.default_rng(0)
    for c, colour in enumerate(([220, 40, 40], [40, 40, 220])):
        (tmp_path / "ref" / f"class{c}").mkdir(parents=True)
        for i in range(24):
            img = np.clip(np.array(colour) + rng.normal(0, 30, (SIZE, SIZE, 3)), 0, 255).astype("uint8")
            Image.fromarray(img).save(tmp_path / "ref" / f"class{c}" / f"{i}.png")
    out = tmp_path / "eval.json"
    # no dataset of its own: a one-line error asks for --reference
    assert main(["eval", str(folder), "-n", "8", "--steps", "2", "--out", str(tmp_path / "no.json"), "--quiet"]) != 0
    assert "give a reference image folder" in capsys.readouterr().err
    main(["eval", str(folder), "-n", "8", "--steps", "2", "--reference", str(tmp_path / "ref"), "--out", str(out),
          "--quiet", "--no-fid"])
    result = json.loads(out.read_text())
    assert result["reference_data"] == str(tmp_path / "ref") and result["fd"] > 0


def test_likelihood_of_images_under_a_diffusers_model(folder):
    from difflab.likelihood import bits_per_dim, dequantize, log_likelihood

    denoiser, _ = load_model(folder)
    pixels = torch.randint(0, 256, (2, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(0))
    x = dequantize(pixels, generator=0)
    res = log_likelihood(denoiser, x, trace="hutchinson", generator=0, rtol=1e-3, atol=1e-3)
    bpd = bits_per_dim(res.log_prob, 3 * SIZE * SIZE)
    # the probability-flow ODE of a random network through the wrapped diffusers UNet: finite and positive
    assert torch.isfinite(bpd).all() and (bpd > 0).all()


# -- single-file CompVis / LDM checkpoints ---------------------------------------------
# The fixture writes the tiny pipeline's weights in the CompVis layout (the inverse of
# diffusers' convert_ldm_* functions, checked to round-trip through them exactly).

_UNET_FIXED = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
               "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
_RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
           ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
_VAE_ATTN = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]


def _resnet(rest):
    return next((old + rest[len(new):] for new, old in _RESNET if rest.startswith(new + ".")), rest)


def unet_to_ldm(sd, lpb, up_attention):
    import re

    out = {}
    for k, v in sd.items():
        head = next((h for h in _UNET_FIXED if k.startswith(h + ".")), None)
        if head:
            out[_UNET_FIXED[head] + k[len(head):]] = v
            continue
        m = re.match(r"(down|up)_blocks\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.*)", k) \
            or re.match(r"(mid)_block\.(resnets|attentions)\.(\d+)\.(.*)", k)
        if m[1] == "mid":
            kind, j, rest = m[2], int(m[3]), m[4]
            out[f"middle_block.{2 * j if kind == 'resnets' else 1}.{_resnet(rest) if kind == 'resnets' else rest}"] = v
            continue
        side, b, kind, j, rest = m[1], int(m[2]), m[3], int(m[4]), m[5]
        base = 1 + b * (lpb + 1) if side == "down" else b * (lpb + 1)
        if kind == "resnets":
            out[f"{'input' if side == 'down' else 'output'}_blocks.{base + j}.0.{_resnet(rest)}"] = v
        elif kind == "attentions":
            out[f"{'input' if side == 'down' else 'output'}_blocks.{base + j}.1.{rest}"] = v
        elif kind == "downsamplers":
            out[f"input_blocks.{(b + 1) * (lpb + 1)}.0.op.{rest.replace('conv.', '')}"] = v
        else:
            out[f"output_blocks.{base + lpb}.{2 if up_attention[b] else 1}.{rest}"] = v
    return {"model.diffusion_model." + k: v for k, v in out.items()}


def vae_to_ldm(sd, n_blocks):
    import re

    out = {}
    for k, v in sd.items():
        k2 = k.replace("conv_norm_out", "norm_out")
        m = re.match(r"(encoder|decoder)\.(down|up)_blocks\.(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.*)", k)
        if m:
            i = int(m[3]) if m[2] == "down" else n_blocks - 1 - int(m[3])
            k2 = (f"{m[1]}.{m[2]}.{i}.block.{m[5]}.{m[6].replace('conv_shortcut', 'nin_shortcut')}" if m[4] == "resnets"
                  else f"{m[1]}.{m[2]}.{i}.{m[2]}sample.{m[6]}")
        m = re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", k)
        if m:
            k2 = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        m = re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)", k)
        if m:
            rest = m[2]
            for new, old in _VAE_ATTN:
                rest = rest.replace(new, old)
            k2, v = f"{m[1]}.mid.attn_1.{rest}", (v[:, :, None, None] if v.ndim == 2 else v)
        out["first_stage_model." + k2] = v
    return out


def save_single_file(pipe, path):
    from diffusers.loaders.single_file_utils import (convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint,
                                                     convert_ldm_vae_checkpoint)
    from safetensors.torch import save_file

    cfg = dict(pipe.unet.config)
    unet, vae, clip = pipe.unet.state_dict(), pipe.vae.state_dict(), pipe.text_encoder.state_dict()
    ldm = {**unet_to_ldm(unet, cfg["layers_per_block"], [t.startswith("CrossAttn") for t in cfg["up_block_types"]]),
           **vae_to_ldm(vae, len(pipe.vae.config.block_out_channels)),
           **{"cond_stage_model.transformer." + k: v for k, v in clip.items()}}
    # the fixture is right: diffusers' own conversion gives the pipeline's weights back exactly
    for back, ref in ((convert_ldm_unet_checkpoint(ldm, cfg), unet), (convert_ldm_vae_checkpoint(ldm, dict(pipe.vae.config)), vae),
                      (convert_ldm_clip_checkpoint(ldm), clip)):
        assert set(back) == set(ref) and all(torch.equal(back[k].reshape(ref[k].shape), ref[k]) for k in ref)
    save_file({k: v.contiguous() for k, v in ldm.items()}, str(path))


def test_a_single_file_checkpoint_loads_to_the_same_outputs(tmp_path):
    from difflab.pipelines.text_to_image import TextToImagePipeline

    folder = tmp_path / "sd"
    save_sd(folder)
    ref = diffusers.StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    save_single_file(ref, tmp_path / "model.safetensors")
    # the config folder's weights must not be read: another random model's stand in for them
    configs = tmp_path / "configs"
    save_sd(configs)
    for name in ("unet", "vae"):
        torch.manual_seed(9)
        part = getattr(diffusers, json.loads((configs / name / "config.json").read_text())["_class_name"])
        part.from_config(part.load_config(configs / name)).save_pretrained(configs / name)
    import transformers

    torch.manual_seed(9)
    text = transformers.CLIPTextModel(transformers.CLIPTextConfig.from_pretrained(configs / "text_encoder"))
    text.save_pretrained(configs / "text_encoder")
    mine = TextToImagePipeline.load(tmp_path / "model.safetensors", config=configs)
    folder_pipe = TextToImagePipeline.load(folder)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    prompts = ["a red circle"]
    runs = [sample(p.guided(3.0), noise, "ddim", 6, cond=p.encode_prompts(prompts)) for p in (mine, folder_pipe)]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=1e-5)
    assert mine.config["source"]["checkpoint"] == str(tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="single-file checkpoint: give the diffusers folder"):
        TextToImagePipeline.load(tmp_path / "model.safetensors")
    from difflab.cli import main

    main(["generate", "--model", str(tmp_path / "model.safetensors"), "--config", str(configs), "a red circle", "-n", "1",
          "--steps", "2", "--out", str(tmp_path / "out")])
    assert len(list((tmp_path / "out").glob("*.png"))) == 1
    (tmp_path / "model.ckpt").write_bytes(b"not read")
    with pytest.raises(ValueError, match="pickled checkpoint; difflab reads safetensors only"):
        TextToImagePipeline.load(tmp_path / "model.ckpt", config=configs)

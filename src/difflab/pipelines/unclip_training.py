"""Train unCLIP's diffusion prior and decoder on captioned shapes, and assemble the pipeline.

Both trainers read a trained CLIP encoder (:func:`~difflab.pipelines.clip_training.train_clip`)
and the same training scenes (stream ``TRAIN_SEED``); every phrasing of every scene is a
caption, drawn uniformly per sample. The data are encoded once and cached in the run folder:
the captions' token states (``captions.safetensors``), the CLIP image embedding of every
scene and the CLIP text embedding of every phrasing (``clip_embeddings.safetensors``, keyed
by the CLIP weights' hash).

- :func:`train_prior` (Ramesh et al. 2022, sec. 2.2): a
  :class:`~difflab.nets.prior.PriorTransformer` predicting the clean standardised image
  embedding (x0 prediction, cosine DDPM table T = 1000), the text (tokens and CLIP text
  embedding together) dropped with probability ``p_uncond`` for guidance.
- :func:`train_decoder` (sec. 2.1): a latent U-Net conditioned on the image embedding
  (``embed_dim``, ``embed_tokens`` extra context tokens) and the caption. By default it is
  fine-tuned from a text-to-image pipeline's denoiser (the one shipped with difflab), so it
  starts knowing the latent space and the captions, and learns the embedding; the caption
  is dropped with probability ``p_caption`` (0.5, the paper's) and the embedding (set to
  zero, the mean embedding: the decoder reads embeddings standardised with the same statistics
  as the prior) with ``p_embed`` (0.1), independently.
- :func:`assemble_unclip` writes the :class:`~difflab.pipelines.unclip.UnCLIPPipeline`
  folder from the three parts (weights only, no checkpoints).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ..data.shapes import TRAIN_SEED
from ..train.run_folder import trainer

__all__ = ["train_prior", "train_decoder", "assemble_unclip", "clip_embeddings", "weights_hash"]


def weights_hash(path: Path) -> str:
    """SHA-256 of a weights file (the cache key of what was computed with it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def clip_embeddings(out: Path, clip_folder: Path, clip, scenes: int, progress: bool = True, workers: int = 1) -> dict:
    """The training data shared by the prior and the decoder, cached in ``out``: the caption
    cache (``choices``, ``tokens``, ``mask``; :func:`~difflab.pipelines.training.caption_cache`),
    ``image_embed`` (scenes, D) of the rendered training scenes and ``text_embed`` (rows, D)
    of every phrasing, both by ``clip``."""
    from .data import render_scenes
    from .training import cached_tensors, caption_cache

    captions = caption_cache(out, clip.text_encoder, scenes, progress, workers)
    size = clip.net.image_size

    @torch.no_grad()
    def build() -> dict:
        from ..data.shapes import to_tensor

        images = render_scenes(range(scenes), size, TRAIN_SEED, workers)[0]
        image_embed = torch.cat([clip.encode_image(to_tensor(images[i:i + 512])).cpu()
                                 for i in range(0, scenes, 512)])
        tokens, mask = captions["tokens"], captions["mask"]
        text_embed = torch.cat([clip.net.encode_tokens(tokens[i:i + 1024].float().to(clip.device),
                                                       mask[i:i + 1024].to(clip.device)).cpu()
                                for i in range(0, len(tokens), 1024)])
        return {"image_embed": image_embed, "text_embed": text_embed}

    key = {"scenes": scenes, "seed": TRAIN_SEED, "size": size,
           "clip": weights_hash(Path(clip_folder) / "encoder" / "model.safetensors")}
    return {**captions, **cached_tensors(Path(out) / "clip_embeddings.safetensors", key, build)}


def standardisation(image_embed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation of the training images' embeddings (the prior's
    data space and the decoder's input; Ramesh et al. 2022, sec. 2.2). A dimension that barely
    varies carries no signal, and dividing by its spread would magnify rounding: no standard
    deviation is taken below a tenth of their root mean square."""
    std = image_embed.std(0)
    return image_embed.mean(0), std.clamp_min(max(0.1 * float(std.pow(2).mean().sqrt()), 1e-12))


def _null_text(clip, length: int, device) -> dict:
    """The empty prompt's token states (cut to ``length``), mask and CLIP text embedding."""
    w, tokens, mask = clip.encode_text([""], return_tokens=True)
    return {"context": tokens[0, :length].to(device), "context_mask": mask[0, :length].to(device),
            "text_embed": w[0].to(device)}


@trainer
def train_prior(
    clip: str | Path,
    *,
    out: str | Path,
    scenes: int = 20_000,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 3e-4,
    width: int = 256,
    layers: int = 4,
    heads: int = 4,
    p_uncond: float = 0.1,
    ema_half_life: float = 50_000,
    warmup: int = 100,
    grad_clip: float | None = 1.0,
    checkpoint_every: int = 500,
    log_every: int = 100,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
    workers: int = 1,
) -> Path:
    """Train the diffusion prior on the embeddings of ``clip`` (a CLIP encoder folder) and save
    it as a model folder ``out`` (its config holds the standardisation, ``standardise``).
    Returns ``out``."""
    from ..denoiser import Denoiser
    from ..nets.prior import PriorTransformer
    from ..schedules import DiscreteSchedule
    from ..train.distributed import init_distributed
    from ..train.loop import fit
    from ..train.run_folder import model_exporter
    from .clip import CLIPEncoder
    from .training import main_process_first, pick_phrasing

    out = Path(out)
    w = init_distributed()
    device = torch.device(device) if device is not None else w.device
    encoder = CLIPEncoder.load(clip, device)
    if w.is_main:
        out.mkdir(parents=True, exist_ok=True)
    with main_process_first(w):
        data = clip_embeddings(out, Path(clip), encoder, scenes, progress and w.is_main, workers)
    mean, std = standardisation(data["image_embed"])
    x_all = ((data["image_embed"] - mean) / std).to(device)
    choices, tokens, mask, text_embed = (data[k].to(device) for k in ("choices", "tokens", "mask", "text_embed"))
    torch.manual_seed(seed)
    # the captions are cut to the longest one's length, and the network learns its fixed
    # slots' positions at that length: it records it (PriorTransformer, context_length)
    net = PriorTransformer(encoder.dim, encoder.text_encoder.dim, width, layers, heads,
                           max_length=encoder.text_encoder.config.get("max_length", 64),
                           context_length=int(tokens.shape[1])).to(device)
    schedule = DiscreteSchedule(kind="cosine", T=1000)
    denoiser = Denoiser(net, schedule, "x0", "index")
    null_cond = _null_text(encoder, tokens.shape[1], device)

    def draw(n: int, g: torch.Generator):
        index, u = torch.randint(0, scenes, (n,), generator=g).to(device), torch.rand(n, generator=g).to(device)
        row = pick_phrasing(choices, index, u)
        return x_all[index], {"context": tokens[row].float(), "context_mask": mask[row], "text_embed": text_embed[row]}

    training = {"clip": str(clip), "scenes": scenes, "steps": steps, "batch_size": batch_size, "lr": lr,
                "p_uncond": p_uncond, "ema_half_life": ema_half_life, "seed": seed,
                "params": sum(p.numel() for p in net.parameters())}
    stats = {"mean": mean.tolist(), "std": std.tolist()}
    extra = {"task": "unclip-prior", "standardise": stats, "training": training}
    fit(denoiser, draw, steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, ema_half_life=ema_half_life,
        ema_rampup=0.05, grad_clip=grad_clip, p_uncond=p_uncond, null_cond=null_cond, out=out,
        checkpoint_every=checkpoint_every, log_every=log_every, resume=resume, seed=seed, progress=progress,
        desc="train prior", on_checkpoint=model_exporter(out, denoiser, extra),
        config={"net": net.config, "schedule": schedule.to_config(), "prediction": "x0",
                "training": {k: v for k, v in training.items() if k != "steps"}})
    return out


def decoder_from_text_to_image(folder: Path, embed_dim: int, embed_tokens: int, device):
    """A decoder U-Net made from the denoiser of the text-to-image pipeline ``folder``: the same
    network with embedding conditioning added (its new layers freshly initialised, every
    other weight the pipeline's EMA weights). Returns (net, autoencoder, and the pipeline's
    schedule, prediction and time input)."""
    from ..io.folders import load_autoencoder, load_model
    from ..nets import UNet

    start, config = load_model(Path(folder) / "denoiser", ema=True, device=device)
    net_config = {k: v for k, v in start.net.config.items() if k != "type"}
    if net_config.get("context_dim") is None:
        raise ValueError(f"{folder}: its denoiser has no cross-attention; a decoder needs the caption tokens")
    net = UNet(**{**net_config, "embed_dim": embed_dim, "embed_tokens": embed_tokens}).to(device)
    missing, unexpected = net.load_state_dict(start.net.state_dict(), strict=False)
    if unexpected or any(not k.startswith("embed_") for k in missing):
        raise ValueError(f"{folder}: its denoiser's weights do not fit the decoder ({(missing + unexpected)[:3]})")
    autoencoder, _ = load_autoencoder(Path(folder) / "autoencoder", device)
    return net, autoencoder, start.schedule, config.get("prediction"), config.get("time_input", "index")


def _is_unclip_folder(folder: Path) -> bool:
    from ..io.jsonfile import read_json_object

    path = Path(folder) / "pipeline.json"
    return path.is_file() and read_json_object(path, f"{folder} is not a pipeline folder").get("task") == "unclip"


def decoder_from_unclip(folder: Path, embed_dim: int, device):
    """The decoder of the unCLIP pipeline ``folder`` (its EMA weights, its embedding layers
    included), to be trained further, with the pipeline's autoencoder. Returns the same as
    :func:`decoder_from_text_to_image`; a decoder that reads embeddings of another size than
    ``embed_dim`` is a one-line error."""
    from ..io.folders import load_autoencoder, load_model

    start, config = load_model(Path(folder) / "decoder", ema=True, device=device)
    if config.get("task") != "unclip-decoder":
        raise ValueError(f"{folder}/decoder is not an unCLIP decoder folder (task {config.get('task')!r})")
    if start.net.config.get("embed_dim") != embed_dim:
        raise ValueError(f"{folder}: its decoder reads {start.net.config.get('embed_dim')}-d embeddings, the CLIP "
                         f"encoder gives {embed_dim}-d ones")
    autoencoder, _ = load_autoencoder(Path(folder) / "autoencoder", device)
    net = start.net.float().train()
    return net, autoencoder, start.schedule, config.get("prediction"), config.get("time_input", "index")


@trainer
def train_decoder(
    clip: str | Path,
    *,
    out: str | Path,
    init: str | Path | None = None,
    scenes: int = 20_000,
    steps: int = 1500,
    batch_size: int = 128,
    lr: float = 3e-4,
    embed_tokens: int = 4,
    p_caption: float = 0.5,
    p_embed: float = 0.1,
    ema_half_life: float = 20_000,
    warmup: int = 50,
    grad_clip: float | None = 1.0,
    checkpoint_every: int = 250,
    log_every: int = 50,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
    compile: bool = False,
    precision: str = "fp32",
    workers: int = 1,
    t_sampling: str = "uniform",
) -> Path:
    """Train the decoder on the latents of the training scenes, conditioned on their CLIP image
    embeddings (by ``clip``) and captions, fine-tuned from the denoiser of the text-to-image
    pipeline ``init`` (default: the one shipped with difflab), whose autoencoder it uses; or,
    with an unCLIP pipeline folder as ``init``, its decoder trained further (its
    ``embed_tokens`` kept; ``clip`` must be that pipeline's encoder, or one of its size).
    Saves a model folder ``out`` (the decoder) with the autoencoder in ``out/autoencoder``.
    ``t_sampling``: the density of training noise levels (:func:`difflab.losses.sample_t`; e.g.
    ``"logit-normal"``, SD3's, more of the levels around the data's scale). Returns ``out``."""
    from ..denoiser import Denoiser
    from ..losses import check_objective
    from ..io.folders import read_pipeline_config, save_autoencoder
    from ..io.jsonfile import read_json_object
    from ..train.distributed import init_distributed
    from ..train.loop import fit
    from ..train.run_folder import model_exporter
    from .clip import CLIPEncoder
    from .text_to_image import shipped_model_path
    from .training import latent_cache, main_process_first, pick_phrasing

    for name, p in (("p_caption", p_caption), ("p_embed", p_embed)):
        if not 0 <= p < 1:
            raise ValueError(f"{name} must be in [0, 1), got {p}")
    check_objective(t_sampling=t_sampling)
    out = Path(out)
    w = init_distributed()
    device = torch.device(device) if device is not None else w.device
    init = Path(init) if init is not None else shipped_model_path()
    encoder = CLIPEncoder.load(clip, device)
    image_size = encoder.net.image_size
    torch.manual_seed(seed)
    continuing = _is_unclip_folder(init)
    if continuing:  # continue the decoder of an unCLIP pipeline
        net, autoencoder, schedule, prediction, time_input = decoder_from_unclip(init, encoder.dim, device)
        embed_tokens = net.embed_tokens
        init_size = read_pipeline_config(init, "unclip").get("image_size")
    else:
        init_size = read_pipeline_config(init, "text-to-image").get("image_size")
        net, autoencoder, schedule, prediction, time_input = decoder_from_text_to_image(
            init, encoder.dim, embed_tokens, device)
    if init_size != image_size:
        raise ValueError(f"{init} generates {init_size}-pixel images but the CLIP encoder reads {image_size}-pixel ones")
    if net.config["context_dim"] != encoder.text_encoder.dim:
        raise ValueError(f"{init}: its denoiser reads {net.config['context_dim']}-d tokens, the CLIP encoder's text "
                         f"encoder gives {encoder.text_encoder.dim}-d ones")
    autoencoder.requires_grad_(False)
    denoiser = Denoiser(net, schedule, prediction, time_input)
    if w.is_main:
        out.mkdir(parents=True, exist_ok=True)
    with main_process_first(w):
        data = clip_embeddings(out, Path(clip), encoder, scenes, progress and w.is_main, workers)
        latents = latent_cache(out, autoencoder, image_size, scenes, seed, workers)
    mean, std = standardisation(data["image_embed"])
    if continuing:  # a decoder trained further reads the embeddings as it was trained to
        stats = read_json_object(init / "decoder" / "config.json", f"{init}/decoder").get("standardise", {})
        mean, std = (torch.tensor(stats[k], dtype=mean.dtype) if k in stats else v for k, v in (("mean", mean), ("std", std)))
    image_embed = ((data["image_embed"] - mean) / std).to(device)  # the decoder reads it standardised
    choices, tokens, mask = (data[k].to(device) for k in ("choices", "tokens", "mask"))
    latents = latents.to(device)
    null = _null_text(encoder, tokens.shape[1], device)

    def draw(n: int, g: torch.Generator):
        index, u = torch.randint(0, scenes, (n,), generator=g).to(device), torch.rand(n, generator=g).to(device)
        drop_caption = (torch.rand(n, generator=g) < p_caption).to(device)
        drop_embed = (torch.rand(n, generator=g) < p_embed).to(device)
        row = pick_phrasing(choices, index, u)
        context = torch.where(drop_caption[:, None, None], null["context"].float(), tokens[row].float())
        context_mask = torch.where(drop_caption[:, None], null["context_mask"], mask[row])
        embed = torch.where(drop_embed[:, None], 0.0, image_embed[index])
        return latents[index], {"context": context, "context_mask": context_mask, "embed": embed}

    training = {"clip": str(clip), "init": str(init), "scenes": scenes, "steps": steps, "batch_size": batch_size,
                "lr": lr, "p_caption": p_caption, "p_embed": p_embed, "embed_tokens": embed_tokens,
                "ema_half_life": ema_half_life, "seed": seed, "params": sum(p.numel() for p in net.parameters()),
                **({"t_sampling": t_sampling} if t_sampling != "uniform" else {})}
    extra = {"task": "unclip-decoder", "standardise": {"mean": mean.tolist(), "std": std.tolist()},
             "training": training}
    export_model = model_exporter(out, denoiser, extra)

    def export(step: int, ema) -> None:
        export_model(step, ema)
        save_autoencoder(out / "autoencoder", autoencoder, {"data": {"name": "shapes", "range": [-1.0, 1.0],
                                                                      "shape": [3, image_size, image_size]}})

    fit(denoiser, draw, steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, ema_half_life=ema_half_life,
        ema_rampup=0.05, grad_clip=grad_clip, out=out, checkpoint_every=checkpoint_every, log_every=log_every,
        resume=resume, precision=precision, seed=seed, progress=progress, desc="train decoder", compile=compile,
        t_sampling=t_sampling,
        on_checkpoint=export,
        config={"net": net.config, "schedule": schedule.to_config(), "prediction": prediction,
                "training": {k: v for k, v in training.items() if k != "steps"}})
    return out


def assemble_unclip(clip: str | Path, prior: str | Path, decoder: str | Path, out: str | Path, *,
                    overwrite: bool = False, defaults: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write the :class:`~difflab.pipelines.unclip.UnCLIPPipeline` folder ``out`` from a CLIP
    encoder folder, a prior (:func:`train_prior`) and a decoder (:func:`train_decoder`) folder
    (their EMA weights), after loading all three together (a mismatch is a one-line error and
    writes nothing). ``dtype``: store the weights in that precision (e.g. ``torch.float16`` to
    ship). Returns ``out``."""
    from ..io.atomic import atomic_folder, lock_folder
    from ..io.folders import load_autoencoder, load_model
    from .clip import CLIPEncoder
    from .unclip import UnCLIPPipeline, embedding_statistics

    out = Path(out)
    if (out / "pipeline.json").exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a pipeline: --overwrite (overwrite=True) replaces it")
    encoder = CLIPEncoder.load(clip)
    prior_model, prior_config = load_model(prior, ema=True)
    decoder_model, decoder_config = load_model(decoder, ema=True)
    for part, config, task in ((prior, prior_config, "unclip-prior"), (decoder, decoder_config, "unclip-decoder")):
        if config.get("task") != task:
            raise ValueError(f"{part} is not an unCLIP {task.split('-')[1]} folder (task {config.get('task')!r})")
    autoencoder, _ = load_autoencoder(Path(decoder) / "autoencoder")
    stats = embedding_statistics(prior_config, decoder_config, f"{prior} and {decoder}")
    pipe = UnCLIPPipeline(encoder, prior_model, stats, autoencoder, decoder_model, {
        "defaults": defaults or {}, "data": {"name": "shapes", "range": [-1.0, 1.0]},
        "training": {"clip": encoder.config.get("training"), "prior": prior_config.get("training"),
                     "decoder": decoder_config.get("training")}})
    out.mkdir(parents=True, exist_ok=True)
    with lock_folder(out), atomic_folder(out) as tmp:  # all parts or none: never a new encoder with an old prior
        pipe.save(tmp, dtype=dtype)
    return out

"""Train the denoiser of a latent text-to-image pipeline on captioned shapes (Rombach et al. 2022).

The recipe (the defaults of :func:`train_text_to_image`, sized for a 2-core CPU):

1. render ``scenes`` training scenes (stream ``TRAIN_SEED``) at the autoencoder's
   image size and encode them once to latents ``z = scale_factor * E(x)`` with the
   trained, frozen autoencoder (Rombach et al. 2022, sec. 3: "the diffusion model is
   trained in the latent space of a pretrained autoencoder");
2. encode every distinct phrasing of those scenes once with the frozen text encoder
   (:func:`~difflab.data.shapes.all_captions`: 3 to 5 phrasings per scene; a training
   sample picks one uniformly: caption augmentation);
3. train a :class:`~difflab.nets.UNet` with cross-attention (``context_dim`` = the
   encoder's width) on the latents with :func:`difflab.train.fit`: cosine DDPM table
   (T = 1000), v prediction (Salimans & Ho 2022), EMA, caption dropout ``p_uncond``
   to the empty prompt's encoding for classifier-free guidance (Ho & Salimans 2022).

Steps cost only the U-Net on latents: the autoencoder and the text encoder never run
during training. The data caches (``latents.safetensors``, ``captions.safetensors``) are
written to the run folder, so a resumed run starts at once. At each checkpoint the folder ``out`` is
rewritten as a complete pipeline folder (:meth:`TextToImagePipeline.save`) with the
EMA weights.

Under ``torchrun`` the training is data-parallel (:mod:`difflab.train.distributed`):
rank 0 builds the caches while the other ranks wait, then they read them; only rank 0
writes into ``out``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Mapping, Sequence

import torch

from ..data.shapes import TRAIN_SEED
from ..grids import data_scale_from_samples
from ..train.run_folder import trainer
from .text_to_image import TextToImagePipeline

__all__ = ["train_text_to_image", "text_unet", "caption_cache", "latent_cache", "TEXT_ENCODERS_BY_NAME",
           "cached_tensors", "main_process_first", "pick_phrasing"]

#: training latents the data's scale and effective dimension are measured on (the first ones)
DATA_SCALE_SAMPLES = 4096

#: ``text_encoder=`` names and the configs they stand for
TEXT_ENCODERS_BY_NAME = {
    "minilm": {"type": "minilm", "max_length": 64},
    "hashing": {"type": "hashing", "dim": 32, "max_length": 64},
}


def text_unet(latent_shape, context_dim: int, channels: int = 48, channel_mult=(1, 2), num_res_blocks: int = 1):
    """The recipe's U-Net: self- and cross-attention at every level of the latent grid and
    in the middle, 8 GroupNorm groups, heads of 32 channels."""
    from ..nets import UNet
    from ..train.image import level_resolutions

    c, h, _ = latent_shape
    return UNet(in_channels=c, channels=channels, channel_mult=channel_mult, num_res_blocks=num_res_blocks,
                attention_resolutions=level_resolutions(h, len(channel_mult)), image_size=h, groups=8,
                head_channels=32, context_dim=context_dim)


def cached_tensors(path: Path, key: dict, build) -> dict:
    """``build()`` (a dict of tensors), stored at ``path`` with ``key`` in its metadata and
    reused while the key is the same."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from ..io.atomic import atomic_path

    text = json.dumps(key, sort_keys=True)
    if path.is_file():
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("key") == text:
                return load_file(str(path))
    tensors = {k: v.contiguous() for k, v in build().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"key": text})
    return tensors


def pick_phrasing(choices: torch.Tensor, index: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The caption-cache rows of one phrasing per scene, drawn uniformly: for scenes ``index``
    and uniforms ``u`` in [0, 1), ``choices[index, floor(u * phrasings of the scene)]``
    (``choices`` as :func:`caption_cache` stores it, -1 past a scene's last phrasing)."""
    count = (choices[index] >= 0).sum(1)
    return choices[index, (u * count).long()]


def caption_cache(out: Path, text_encoder, scenes: int, progress: bool = True, workers: int = 1,
                  styles: Sequence[str] | None = None) -> dict:
    """Every phrasing of training scenes 0 .. scenes-1 (in rendering ``styles``), encoded once,
    cached in ``out``: ``choices`` (scenes, K) rows of ``tokens`` / ``mask`` (-1: no such
    phrasing). The encoding runs where ``text_encoder``'s weights are; the cache is on the CPU."""
    from .data import encode_captions, render_scenes

    def build() -> dict:
        _, captions = render_scenes(range(scenes), 0, TRAIN_SEED, workers, captions=True, styles=styles)
        distinct = sorted({c for cs in captions for c in cs})
        row = {c: k for k, c in enumerate(distinct)}
        choices = torch.full((scenes, max(len(cs) for cs in captions)), -1, dtype=torch.long)
        for i, cs in enumerate(captions):
            choices[i, : len(cs)] = torch.tensor([row[c] for c in cs])
        tokens, mask = encode_captions(text_encoder, distinct, progress=progress)
        return {"choices": choices, "tokens": tokens, "mask": mask}

    key = {"scenes": scenes, "seed": TRAIN_SEED, "text_encoder": text_encoder.config,
           **({"styles": list(styles)} if styles is not None else {})}
    return cached_tensors(Path(out) / "captions.safetensors", key, build)


def latent_cache(out: Path, autoencoder, image_size: int, scenes: int, seed: int = 0,
                 workers: int = 1, styles: Sequence[str] | None = None) -> torch.Tensor:
    """Latents ``scale_factor * E(x)`` of training scenes 0 .. scenes-1 (in rendering
    ``styles``), cached in ``out`` (encoded where ``autoencoder``'s weights are; the cache is
    on the CPU)."""
    from .data import render_training_set

    def build() -> dict:
        images, _ = render_training_set(scenes, image_size, TRAIN_SEED, workers, styles)
        g = torch.Generator().manual_seed(seed)
        device = next(autoencoder.parameters()).device
        with torch.no_grad():
            return {"latents": torch.cat([autoencoder.encode_latents(images[i:i + 256].to(device), g).cpu()
                                          for i in range(0, scenes, 256)])}

    key = {"scenes": scenes, "size": image_size, "seed": seed, "autoencoder": autoencoder.config,
           **({"styles": list(styles)} if styles is not None else {})}
    return cached_tensors(Path(out) / "latents.safetensors", key, build)["latents"]


@contextlib.contextmanager
def main_process_first(w):
    """Rank 0 runs the block first (it builds the caches); the other ranks run it after
    rank 0 has finished it (they read the caches)."""
    import torch.distributed as dist

    if w.size > 1 and not w.is_main:
        dist.barrier()
    yield
    if w.size > 1 and w.is_main:
        dist.barrier()


def _training_of(folder) -> dict | None:
    """The ``training`` record of pipeline folder ``folder`` (where a fine-tune started), or None."""
    import json

    try:
        return json.loads((Path(folder) / "pipeline.json").read_text()).get("training")
    except (OSError, ValueError):
        return None


def scene_weights(scenes: int, object_weights: Sequence[float] | None = None,
                  style_weights: Mapping[str, float] | None = None,
                  styles: Sequence[str] | None = None,
                  background_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Sampling weight of each training scene 0 .. scenes-1: ``object_weights[k - 1]`` for a
    scene of k objects (:func:`~difflab.data.shapes.object_count`), times
    ``style_weights[style]`` for a scene drawn in that rendering style
    (:func:`~difflab.data.shapes.scene_style`; a style of ``styles`` not named weighs 1), times
    ``background_weights[background]`` for a scene on that background
    (:func:`~difflab.data.shapes.scene_background`; a background not named weighs 1).
    Drawing scenes in proportion to it changes the training distribution (nothing corrects
    for it), so the loss (Ho et al. 2020, eq. 14) is spent more on the kinds of scene weighted up."""
    import math

    from ..data.shapes import BACKGROUNDS, check_styles, object_count, scene_background, scene_style

    weights = torch.ones(scenes, dtype=torch.float64)
    if object_weights is not None:
        w = [float(v) for v in object_weights]
        if len(w) != 3 or not all(math.isfinite(v) and v >= 0 for v in w) or not any(w):
            raise ValueError(f"object_weights must be 3 non-negative numbers (scenes of 1, 2, 3 objects), not all 0; "
                             f"got {list(object_weights)}")
        weights *= torch.tensor([w[object_count(TRAIN_SEED, i) - 1] for i in range(scenes)], dtype=torch.float64)
    if style_weights is not None:
        if styles is None:
            raise ValueError("style_weights need the training styles (styles=...)")
        styles = check_styles(styles)
        weights *= _factor("style_weights", style_weights, styles, [scene_style(TRAIN_SEED, i, styles)
                                                                     for i in range(scenes)])
    if background_weights is not None:
        weights *= _factor("background_weights", background_weights, list(BACKGROUNDS),
                           [scene_background(TRAIN_SEED, i) for i in range(scenes)])
    if not weights.sum() > 0:
        raise ValueError(f"object_weights {list(object_weights or ())}, style_weights {dict(style_weights or {})} and "
                         f"background_weights {dict(background_weights or {})} give weight 0 to all {scenes} training scenes")
    return weights


def _factor(what: str, weights: Mapping[str, float], names: Sequence[str], kinds: Sequence[str]) -> torch.Tensor:
    """Each scene's weight ``weights[kind]`` (1 for a kind not named), after checking that
    ``weights`` gives non-negative numbers to some of ``names``."""
    import math

    unknown = sorted(set(weights) - set(names))
    bad = {k: v for k, v in weights.items() if not (math.isfinite(float(v)) and float(v) >= 0)}
    if unknown or bad:
        raise ValueError(f"{what} must give non-negative numbers to {list(names)}; got {dict(weights)}")
    return torch.tensor([float(weights.get(kind, 1.0)) for kind in kinds], dtype=torch.float64)


@trainer
def train_text_to_image(
    autoencoder: str | Path,
    *,
    out: str | Path,
    text_encoder: str | dict = "minilm",
    scenes: int = 8000,
    steps: int = 1700,
    batch_size: int = 64,
    lr: float = 2e-3,
    channels: int = 48,
    channel_mult=(1, 2),
    num_res_blocks: int = 1,
    p_uncond: float = 0.1,
    ema_half_life: float = 20_000,
    warmup: int = 100,
    grad_clip: float | None = 1.0,
    checkpoint_every: int = 200,
    log_every: int = 50,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
    defaults: dict | None = None,
    device: str | torch.device | None = None,
    compile: bool = False,
    precision: str = "fp32",
    workers: int = 1,
    init: str | Path | None = None,
    object_weights: Sequence[float] | None = None,
    styles: Sequence[str] | None = None,
    style_weights: Mapping[str, float] | None = None,
    background_weights: Mapping[str, float] | None = None,
) -> Path:
    """Train the denoiser of a text-to-image pipeline on the latents of ``autoencoder``
    (a folder from ``difflab train autoencoder``) and save the pipeline folder ``out``.

    ``text_encoder``: a name of :data:`TEXT_ENCODERS_BY_NAME` or an encoder config.
    ``scenes``: training scenes (each with all its phrasings). The other arguments are
    :func:`difflab.train.fit`'s and the U-Net's (:func:`text_unet`). ``defaults``: the
    sampling defaults written into the pipeline (see
    :data:`~difflab.pipelines.text_to_image.DEFAULTS`). ``device``: where the caches
    are encoded and the denoiser trains (default: CUDA if available, else CPU);
    ``precision``: "fp32", "bf16" or "auto" (:mod:`difflab.precision`); ``workers``: processes that render the training
    scenes. ``init``: fine-tune: start the denoiser from the (EMA) weights of this
    pipeline folder's denoiser, whose network config replaces ``channels``,
    ``channel_mult`` and ``num_res_blocks`` (its optimizer state is not kept: a fresh
    warm-up and decay). ``object_weights``: relative chance of drawing a training scene
    with 1, 2 and 3 objects, per scene (default: uniform over scenes, i.e. the
    dataset's own mixture :data:`~difflab.data.shapes.N_OBJECTS_P`); e.g. ``(1, 3, 1)``
    spends more of a fine-tune on two-object relations. ``styles``: train on scenes in these
    rendering styles (:func:`~difflab.data.shapes.make_scene`; captions name them, so the
    pipeline learns style words) instead of the flat stream. ``style_weights``: relative
    chance of drawing a scene of each of those styles (default 1 each), multiplied with
    ``object_weights`` (:func:`scene_weights`); ``background_weights``: the same per background
    (black, gray, white; default 1 each). Returns ``out``.
    """
    from ..denoiser import Denoiser
    from ..io.folders import load_autoencoder
    from ..schedules import DiscreteSchedule
    from ..text import text_encoder_from_config
    from ..train.distributed import init_distributed
    from ..train.loop import fit

    out = Path(out)
    if isinstance(text_encoder, str):
        if text_encoder not in TEXT_ENCODERS_BY_NAME:
            raise ValueError(f"unknown text encoder {text_encoder!r}; expected one of: {', '.join(TEXT_ENCODERS_BY_NAME)}")
        text_encoder = TEXT_ENCODERS_BY_NAME[text_encoder]
    w = init_distributed()
    device = torch.device(device) if device is not None else w.device
    encoder = text_encoder_from_config(text_encoder)
    ae, ae_config = load_autoencoder(autoencoder, device)
    ae.requires_grad_(False)
    shape = (ae_config.get("data") or {}).get("shape")
    if not shape:
        raise ValueError(f"{autoencoder}: its config.json does not record the image size it was trained on "
                         "(data.shape); retrain it with difflab train autoencoder")
    image_size = int(shape[-1])
    latent_shape = ae.latent_shape((ae.in_channels, image_size, image_size))

    # every argument is checked (and the network built) before minutes go into the caches
    if styles is not None:
        from ..data.shapes import check_styles

        styles = list(check_styles(styles))
    weights = (scene_weights(scenes, object_weights, style_weights, styles, background_weights)
               if any(w is not None for w in (object_weights, style_weights, background_weights)) else None)
    torch.manual_seed(seed)
    schedule = DiscreteSchedule(kind="cosine", T=1000)
    if init is not None:
        from ..io.folders import load_model

        start, start_config = load_model(Path(init) / "denoiser", ema=True, device=device)
        if start_config.get("net", {}).get("context_dim") != encoder.dim or start.net.config.get("in_channels") != latent_shape[0]:
            raise ValueError(f"{init}: its denoiser does not fit latents {tuple(latent_shape)} and {encoder.dim}-d text tokens")
        if start_config.get("schedule") != schedule.to_config() or start_config.get("prediction") != "v":
            raise ValueError(f"{init}: its denoiser was trained with schedule {start_config.get('schedule')} and "
                             f"prediction {start_config.get('prediction')!r}; this recipe fine-tunes cosine T=1000, v")
        net = start.net.train()
    else:
        net = text_unet(latent_shape, encoder.dim, channels, channel_mult, num_res_blocks).to(device)
    denoiser = Denoiser(net, schedule, "v", "index")

    if w.is_main:
        out.mkdir(parents=True, exist_ok=True)
    with main_process_first(w):
        cache_encoder = encoder if device.type == "cpu" else text_encoder_from_config(text_encoder, cache=False).to(device)
        captions = caption_cache(out, cache_encoder, scenes, progress and w.is_main, workers, styles)
        del cache_encoder
        latents = latent_cache(out, ae, image_size, scenes, seed, workers, styles)
    # declared with the model: where the default grid's first step may land (difflab.grids.tuned_grid)
    scale = data_scale_from_samples(latents[:DATA_SCALE_SAMPLES])
    denoiser.sigma_data, denoiser.data_dim = scale.sigma_data, scale.dim
    choices, tokens, mask = captions["choices"], captions["tokens"], captions["mask"]
    null = encoder.encode([""])
    length = tokens.shape[1]
    null_cond = {"context": null.tokens[0, :length], "context_mask": null.mask[0, :length]}

    # the data live where the network trains; only the random indices come from the CPU generator
    latents, tokens, mask, choices = (t.to(device) for t in (latents, tokens, mask, choices))

    def draw(n: int, g: torch.Generator):
        if weights is None:
            index = torch.randint(0, len(latents), (n,), generator=g)
        else:
            index = torch.multinomial(weights, n, replacement=True, generator=g)
        u = torch.rand(n, generator=g)
        index, u = index.to(device), u.to(device)
        row = pick_phrasing(choices, index, u)
        return latents[index], {"context": tokens[row].float(), "context_mask": mask[row]}

    training = {"autoencoder": str(autoencoder), "scenes": scenes, "steps": steps, "batch_size": batch_size,
                "lr": lr, "warmup": warmup, "p_uncond": p_uncond, "ema_half_life": ema_half_life, "seed": seed,
                "params": sum(p.numel() for p in net.parameters()), **({"init": str(init)} if init else {}),
                **({"init_training": _training_of(init)} if init else {}),
                **({"object_weights": [float(w) for w in object_weights]} if object_weights is not None else {}),
                **({"styles": styles} if styles is not None else {}),
                **({"style_weights": {k: float(v) for k, v in style_weights.items()}} if style_weights else {}),
                **({"background_weights": {k: float(v) for k, v in background_weights.items()}}
                   if background_weights else {})}
    pipeline = TextToImagePipeline(ae, denoiser, encoder, {
        "image_size": image_size, "defaults": defaults or {}, "null": "the encoding of the empty prompt",
        "data": {"name": "shapes", "range": [-1.0, 1.0]}})

    def export(step: int, ema) -> None:
        pipeline.config["training"] = {**training, "steps_done": step}
        pipeline.save(out, ema_state=ema.state_dict() if ema is not None else None)

    fit(denoiser, draw, steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, ema_half_life=ema_half_life,
        ema_rampup=0.05, grad_clip=grad_clip, p_uncond=p_uncond, null_cond=null_cond, out=out,
        checkpoint_every=checkpoint_every, log_every=log_every, resume=resume, precision=precision,
        config={"net": net.config, "schedule": schedule.to_config(), "prediction": "v",
                "text_encoder": encoder.config, "training": {k: v for k, v in training.items() if k != "steps"}},
        on_checkpoint=export, seed=seed, progress=progress, desc="train t2i", compile=compile)
    return out

"""Learned styles: a style no caption ever named, learned from a few example images as LoRA
adapters (Hu et al. 2022) on a text-to-image pipeline's cross-attention and its residual
blocks' convolutions (LoCon, as in LyCORIS, Yeh et al. 2024: the convolutions are where a
texture is drawn, the cross-attention where the style word is read), saved as one small file
and applied by name (``difflab train style``, ``generate --style NAME``).

Training (:func:`train_style`) is the pipeline's own denoising objective on the examples,
with everything frozen but the adapters: each example x (encoded once to latents z =
scale_factor * E(x)) is captioned "CAPTION in NAME style" (CAPTION from a sidecar text file
``image.txt`` when there is one, else empty: the content is then left to the prompt), and
the loss is the v-prediction loss of the pipeline's denoiser (as it was trained), uniform t.
The style word NAME is new to the text encoder only as a word; what it comes to mean is
learned in the adapters, which see it in every training caption: DreamBooth's rare-word
recipe (Ruiz et al. 2023) applied to cross-attention LoRA.

Prior preservation (DreamBooth's eq. 2, Ruiz et al. 2023): with ``prior_images`` K > 0, the
base pipeline first generates K images of its own (latents, at its default sampler, steps and
guidance) for prompts that do not name the style (``prior_prompts``, default: the examples'
captions), and every batch holds round(B lambda / (1 + lambda)) of them beside the examples,
each with its own prompt. The batch mean is then proportional to

    L = E ||v_theta(z_t, "CAPTION in NAME style") - v||^2 + lambda E ||v_theta(z'_t, c') - v'||^2,

the second term holding the adapted model to the base's own images on other prompts, so that
the adapters learn what the style word adds and not the examples' layouts.

The style file (safetensors) holds the adapters' weights (``<layer>.down``, ``<layer>.up``)
and, in its metadata, the style's name, rank, alpha, the adapted layers, and a fingerprint of
the base pipeline's cross-attention weights, so that a style is never applied to another
model silently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import torch

from ..nets.lora import CROSS_ATTENTION, RES_CONVOLUTIONS, add_lora, fingerprint, load_lora_state, lora_state, remove_lora
from ..train.run_folder import trainer

__all__ = ["train_style", "apply_style", "read_style", "style_path", "STYLES_DIR"]

#: where ``generate --style NAME`` looks for ``NAME.safetensors`` (relative to the working directory)
STYLES_DIR = Path("styles")
#: which layers a style adapts: "conv" (the cross-attention's queries, keys / values and output, and
#: the residual blocks' convolutions, as LoCon), "all" (the cross-attention's alone), or "kv" (only the
#: keys and values computed from the text, as Custom Diffusion, Kumari et al. 2023)
LAYERS = {"conv": CROSS_ATTENTION + RES_CONVOLUTIONS, "all": CROSS_ATTENTION, "kv": ("kv_x",)}
_NAME = re.compile(r"[a-z][a-z0-9_-]{1,31}")


def check_style_name(name: str) -> str:
    """A learned style's name: 2 to 32 lowercase letters, digits, - or _, starting with a letter."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a style name is 2 to 32 lowercase letters, digits, - or _, starting with a letter; "
                         f"got {name!r}")
    return name


def style_path(style: str) -> Path | None:
    """The learned-style file ``style`` stands for: itself if it is a ``.safetensors`` path,
    ``styles/STYLE.safetensors`` if that exists, else None (a style word)."""
    if style.endswith(".safetensors"):
        if not Path(style).is_file():
            raise FileNotFoundError(f"no learned style file {style}")
        return Path(style)
    candidate = STYLES_DIR / f"{style}.safetensors"
    return candidate if _NAME.fullmatch(style) and candidate.is_file() else None


def read_style(path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata, adapter weights) of a style file, with one-line errors."""
    from ..io.weights import json_metadata, load_weights

    path = Path(path)
    meta = json_metadata(path, "difflab_style", "a learned style file")
    if not isinstance(meta, dict) or not {"name", "rank", "alpha", "fingerprint"} <= set(meta):
        raise ValueError(f"{path}: not a learned style file (no difflab_style metadata)")
    return meta, load_weights(path)


def apply_style(pipe, path) -> str:
    """Adapt ``pipe``'s denoiser with the learned style in ``path`` (replacing any style applied
    before) and return the style's name, the word to name it by (``pipe(..., style=name)``).
    Refuses a style learned on another model."""
    meta, state = read_style(path)
    net = pipe.denoiser.net
    remove_lora(net)
    if fingerprint(net) != meta["fingerprint"]:
        raise ValueError(f"{path}: the style {meta['name']!r} was learned on another model (fingerprint "
                         f"{meta['fingerprint']}, this pipeline's {fingerprint(net)})")
    load_lora_state(net, state, int(meta["rank"]), float(meta["alpha"]))
    net.eval()
    pipe.learned_style = meta["name"]
    return meta["name"]


def _examples(images: Sequence, size: int) -> tuple[torch.Tensor, list[str]]:
    """Example images as (N, 3, size, size) in [-1, 1] and their captions (``image.txt`` beside
    each image file, else "")."""
    from .style_adapter import reference_pixels
    from ..text import check_prompts

    pixels, captions = [], []
    for image in images:
        pixels.append(reference_pixels(image, size)[0])
        sidecar = Path(image).with_suffix(".txt") if isinstance(image, (str, Path)) else None
        captions.append(sidecar.read_text().strip() if sidecar is not None and sidecar.is_file() else "")
    return torch.stack(pixels), check_prompts(captions)


@trainer
def train_style(
    pipeline,
    images: Sequence,
    *,
    name: str,
    out: str | Path,
    style_file: str | Path | None = None,
    steps: int = 1200,
    batch_size: int = 8,
    lr: float = 1e-3,
    rank: int = 4,
    alpha: float | None = None,
    warmup: int = 20,
    checkpoint_every: int = 100,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
    device: str | None = None,
    compile: bool = False,
    precision: str = "fp32",
    prior_images: int = 0,
    prior_prompts: Sequence[str] | None = None,
    prior_weight: float = 1.0,
    layers: str = "conv",
    style_sigma: float | None = None,
) -> Path:
    """Learn the style of ``images`` (paths, PIL images or uint8 arrays at the pipeline's size;
    2 or more) as LoRA adapters of rank ``rank`` on ``pipeline``'s cross-attention and, with
    ``layers="conv"`` (the default), its residual blocks' convolutions (a
    :class:`~difflab.pipelines.text_to_image.TextToImagePipeline` or its folder), named
    ``name``. ``out``: the run folder (checkpoint, log, loss curve; ``resume`` continues it);
    the style file is written to ``style_file`` (default ``out/NAME.safetensors``) at every
    checkpoint. ``device``, ``compile``, ``precision``: as every trainer's (:func:`difflab.train.fit`).
    ``prior_images``, ``prior_prompts``, ``prior_weight``: prior preservation (module docstring;
    0 images: none); the base's images are kept in ``out/prior.safetensors`` for ``resume``.
    ``layers``: which layers to adapt (:data:`LAYERS`). ``style_sigma``: train
    only at noise levels sigma <= style_sigma (e.g. :data:`~difflab.pipelines.text_to_image.LEARNED_STYLE_SIGMA`,
    where the style acts by default; :class:`~difflab.pipelines.style_adapter_training.LateTimes`);
    None: every level.
    Returns the style file's path."""
    from ..data.shapes import name_style
    from ..io.weights import save_weights
    from ..train.loop import DenoisingLoss, fit
    from .style_adapter_training import LateTimes
    from .text_to_image import TextToImagePipeline

    name = check_style_name(name)
    if style_sigma is not None and not float(style_sigma) > 0:
        raise ValueError(f"style_sigma must be a noise level > 0, got {style_sigma}")
    if len(images) < 2:
        raise ValueError(f"a style is learned from 2 or more example images, got {len(images)}")
    pipe = pipeline if isinstance(pipeline, TextToImagePipeline) else TextToImagePipeline.load(pipeline)
    if device is not None:
        pipe.to(device)
    out = Path(out)
    style_file = Path(style_file) if style_file is not None else out / f"{name}.safetensors"
    x, captions = _examples(images, pipe.config["image_size"])
    if layers not in LAYERS:
        raise ValueError(f"layers must be one of {sorted(LAYERS)}, got {layers!r}")
    n_prior = _prior_count(batch_size, prior_images, prior_weight)
    net = pipe.denoiser.net
    if not any(name.rsplit(".", 1)[-1] in CROSS_ATTENTION for name, _ in net.named_modules()):
        # without them only the convolutions would learn, and they cannot tell the style word from another
        raise ValueError(f"the denoiser has no cross-attention layers named {', '.join(CROSS_ATTENTION)} "
                         f"(difflab's UNet): a learned style is read from its word there")
    remove_lora(net)
    base = fingerprint(net)
    prior = _prior(pipe, out, prior_images, prior_prompts or captions, seed, resume) if n_prior else None
    torch.manual_seed(seed)
    adapted = add_lora(net, rank, alpha, LAYERS[layers])
    alpha = float(alpha if alpha is not None else rank)
    with torch.no_grad():
        latents = pipe.autoencoder.encode_latents(x.to(pipe.device), mode=True)
        cond = pipe.encode_prompts([name_style(c, name) for c in captions])

    def pick(z: torch.Tensor, c: dict, n: int, g: torch.Generator):
        index = torch.randint(0, len(z), (n,), generator=g).to(z.device)
        return z[index], {k: v[index] for k, v in c.items()}

    def draw(n: int, g: torch.Generator):
        k = _prior_count(n, prior_images, prior_weight) if prior is not None else 0
        z, c = pick(latents, cond, n - k, g)
        if not k:
            return z, c
        z_prior, c_prior = pick(*prior, k, g)
        return torch.cat([z, z_prior]), {key: torch.cat([c[key], c_prior[key]]) for key in c}

    meta = {"name": name, "rank": rank, "alpha": alpha, "layers": adapted, "fingerprint": base,
            "training": {"images": len(images), "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
                         "captions": sum(bool(c) for c in captions),
                         **({"style_sigma": float(style_sigma)} if style_sigma is not None else {}),
                         **({"prior_images": prior_images, "prior_weight": prior_weight,
                             "prior_per_batch": n_prior} if n_prior else {})}}

    def export(step: int, ema) -> None:
        save_weights(style_file, lora_state(net),
                      metadata={"difflab_style": json.dumps({**meta, "training": {**meta["training"], "steps_done": step}})})

    try:
        late = {"loss": LateTimes(DenoisingLoss(pipe.denoiser), style_sigma)} if style_sigma is not None else {}
        fit(pipe.denoiser, draw, **late, steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, ema_half_life=None,
            weight_decay=0.0, grad_clip=1.0, out=out, checkpoint_every=checkpoint_every, resume=resume,
            on_checkpoint=export, seed=seed, progress=progress, config={"style": {**meta, "training": None}},
            desc=f"train style {name}", compile=compile, precision=precision)
    finally:
        remove_lora(net)
    return style_file


def _prior_count(batch_size: int, images: int, weight: float) -> int:
    """How many of a batch of ``batch_size`` are the base's own images: round(B lambda / (1 + lambda)),
    at least 1 and at most B - 1 (0 without prior images)."""
    if isinstance(images, bool) or not isinstance(images, int) or images < 0:
        raise ValueError(f"prior_images must be a non-negative integer, got {images!r}")
    if not (isinstance(weight, (int, float)) and weight > 0 and weight < float("inf")):
        raise ValueError(f"prior_weight must be a positive number, got {weight!r}")
    if images == 0:
        return 0
    if batch_size < 2:
        raise ValueError(f"prior preservation needs a batch of 2 or more (examples and prior images), got {batch_size}")
    return min(batch_size - 1, max(1, round(batch_size * weight / (1 + weight))))


def _prior(pipe, out: Path, n: int, prompts: Sequence[str], seed: int, resume: bool) -> tuple[torch.Tensor, dict]:
    """(latents, cond) of ``n`` images the base pipeline generates for ``prompts`` (cycled), from
    the noise of seeds 10^6 * (seed + 1) + i; kept in ``out/prior.safetensors`` and read back on resume."""
    from ..io.weights import json_metadata, load_weights, save_weights
    from ..text import check_prompts

    prompts = check_prompts(list(prompts))
    prompts = [prompts[i % len(prompts)] for i in range(n)]
    path = out / "prior.safetensors"
    z = None
    if resume and path.is_file():
        z = load_weights(path)["latents"].to(pipe.device)
        if len(z) != n or json_metadata(path, "prompts", "a prior-image file") != prompts:
            raise ValueError(f"{path} holds {len(z)} prior images of other prompts or another count than the {n} "
                             f"asked for: resume with the same prior_images and prior_prompts")
    if z is None:
        with torch.no_grad():
            z = torch.cat([pipe.latents(prompts[i:i + 64], seed=10**6 * (seed + 1) + i)[0]
                           for i in range(0, n, 64)])
        out.mkdir(parents=True, exist_ok=True)
        save_weights(path, {"latents": z}, metadata={"prompts": json.dumps(prompts)})
    with torch.no_grad():
        return z, pipe.encode_prompts(prompts)

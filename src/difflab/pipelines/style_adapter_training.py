"""Training a style adapter (IP-Adapter, Ye et al. 2023) for a frozen text-to-image pipeline:
``difflab train style-adapter`` (:mod:`~difflab.pipelines.style_adapter` explains the recipe and
applies the result)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..nets.style_adapter import StyleAdapter
from ..train.run_folder import trainer
from .style_adapter import ADAPTER_FILE, adapted, save_style_adapter

__all__ = ["train_style_adapter"]


@trainer
def train_style_adapter(
    pipeline,
    *,
    out: str | Path,
    styles: Sequence[str] | None = None,
    scenes: int = 8000,
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 5e-4,
    tokens: int = 4,
    p_uncond: float = 0.1,
    warmup: int = 100,
    checkpoint_every: int = 250,
    log_every: int = 50,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    device: str | None = None,
    compile: bool = False,
    precision: str = "fp32",
) -> Path:
    """Train a style adapter for ``pipeline`` (a :class:`~difflab.pipelines.text_to_image.TextToImagePipeline`
    or its folder; frozen) on ``scenes`` training scenes in ``styles`` (default: the styles the
    pipeline was trained on, at least two), captioned without their style, each with a reference
    drawn from the other scenes of its style. ``p_uncond``: how often the caption is dropped.
    ``out``: the run folder (checkpoint, log, loss curve;
    ``resume`` continues it); the adapter is written to ``out/style_adapter.safetensors`` at
    every checkpoint. The rest as every trainer's (:func:`difflab.train.fit`). Returns the
    adapter file's path."""
    from ..data.shapes import TRAIN_SEED, check_styles, make_scene, to_tensor
    from ..train.loop import fit
    from .data import encode_captions, render_scenes
    from ..nets.lora import fingerprint
    from .text_to_image import TextToImagePipeline

    if not 0 <= p_uncond < 1:
        raise ValueError(f"p_uncond must be in [0, 1), got {p_uncond}")
    pipe = pipeline if isinstance(pipeline, TextToImagePipeline) else TextToImagePipeline.load(pipeline)
    if device is not None:
        pipe.to(device)
    styles = check_styles(styles if styles is not None else (pipe.trained_styles or ()))
    if len(styles) < 2:
        raise ValueError(f"a style adapter learns to tell styles apart: give two or more styles, got {list(styles)}")
    if isinstance(scenes, bool) or not isinstance(scenes, int) or scenes < 2 * len(styles):
        raise ValueError(f"scenes must be an integer of at least {2 * len(styles)}, got {scenes!r}")
    out = Path(out)
    size = pipe.config["image_size"]
    net = pipe.denoiser.net
    base = fingerprint(net)
    torch.manual_seed(seed)
    adapter = StyleAdapter(net, tokens).to(pipe.device)

    # the pool: every scene's latents, its content-only caption, its style; references are other scenes' pixels
    images, _ = render_scenes(range(scenes), size, TRAIN_SEED, workers, styles=styles)
    scene_style = np.array([make_scene(TRAIN_SEED, i, styles).style for i in range(scenes)])
    captions = [make_scene(TRAIN_SEED, i).caption for i in range(scenes)]  # the same content, no style word

    def pixels(index) -> torch.Tensor:  # scenes of the pool, (N, 3, S, S) in [-1, 1]
        return to_tensor(images[np.asarray(index)])

    with torch.no_grad():
        latents = torch.cat([pipe.autoencoder.encode_latents(pixels(range(i, min(i + 256, scenes))).to(pipe.device),
                                                             mode=True).cpu() for i in range(0, scenes, 256)])
    distinct = sorted(set(captions))
    rows = {c: k for k, c in enumerate(distinct)}
    row = torch.tensor([rows[c] for c in captions])
    text_tokens, text_mask = encode_captions(pipe.text_encoder, distinct, progress=False)
    # scenes grouped by style: a reference is one of the other scenes of the target's style
    style_of = torch.tensor([styles.index(s) for s in scene_style])
    pools = [torch.from_numpy(np.flatnonzero(scene_style == s)) for s in styles]
    if min(len(p) for p in pools) < 2:
        raise ValueError(f"{scenes} scenes leave a style with fewer than two scenes: give more scenes")
    flat, sizes = torch.cat(pools), torch.tensor([len(p) for p in pools])
    start = torch.cumsum(sizes, 0) - sizes
    position = torch.empty(scenes, dtype=torch.long)
    for p in pools:
        position[p] = torch.arange(len(p))
    null = pipe.null_cond()
    length = text_tokens.shape[1]
    null_cond = {"context": null["context"][:length].float().cpu(), "context_mask": null["context_mask"][:length].cpu()}

    def draw(n: int, g: torch.Generator):
        index = torch.randint(0, scenes, (n,), generator=g)
        s = style_of[index]
        j = (torch.rand(n, generator=g) * (sizes[s] - 1)).long()  # one of the style's other scenes
        ref = flat[start[s] + j + (j >= position[index]).long()]
        r = row[index]
        return latents[index], {"context": text_tokens[r].float(), "context_mask": text_mask[r],
                                "style_image": pixels(ref)}

    model = adapted(pipe.denoiser, adapter)
    requires, mode = {n: p.requires_grad for n, p in net.named_parameters()}, net.training
    net.requires_grad_(False)
    file = out / ADAPTER_FILE
    training = {"styles": list(styles), "scenes": scenes, "steps": steps, "batch_size": batch_size, "lr": lr,
                "p_uncond": p_uncond, "seed": seed,
                "params": sum(p.numel() for p in adapter.parameters())}

    def export(step: int, ema) -> None:
        save_style_adapter(file, adapter, base, {**training, "steps_done": step})

    try:
        fit(model, draw, steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, ema_half_life=None,
            weight_decay=0.0, grad_clip=1.0, p_uncond=p_uncond, null_cond=null_cond, out=out,
            checkpoint_every=checkpoint_every, log_every=log_every, resume=resume, on_checkpoint=export, seed=seed,
            progress=progress, config={"style_adapter": {**adapter.config, **training, "steps": None,
                                                          "fingerprint": base}},
            desc="train style adapter", compile=compile, precision=precision)
    finally:
        for n, p in net.named_parameters():
            p.requires_grad_(requires.get(n, p.requires_grad))
        net.train(mode)
    return file

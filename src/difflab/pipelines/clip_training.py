"""Train a CLIP-style dual encoder on captioned shapes (Radford et al. 2021).

The recipe (the defaults of :func:`train_clip`, sized for a 2-core CPU):

1. render ``scenes`` training scenes (stream ``TRAIN_SEED``) at ``image_size`` and
   keep them in memory as uint8;
2. encode every distinct phrasing of those scenes once with the frozen text encoder
   (:func:`~difflab.pipelines.training.caption_cache`, cached in the run folder); a
   training pair is a scene with one of its phrasings, drawn uniformly;
3. train a :class:`~difflab.nets.contrastive.DualEncoder` with the symmetric InfoNCE
   loss and a learned temperature (:class:`~difflab.train.contrastive.ContrastiveLoss`)
   with :func:`difflab.train.fit`: AdamW, warm-up and cosine decay, no EMA.

At each checkpoint the folder ``out`` is rewritten as a complete
:class:`~difflab.pipelines.clip.CLIPEncoder` folder, so an interrupted run leaves a
usable encoder, and ``resume=True`` continues exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..data.shapes import TRAIN_SEED
from ..train.run_folder import trainer
from .clip import CLIPEncoder

__all__ = ["train_clip"]


@trainer
def train_clip(
    *,
    out: str | Path,
    text_encoder: str | dict = "minilm",
    image_size: int = 64,
    scenes: int = 20_000,
    steps: int = 1500,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    embed_dim: int = 64,
    channels: Sequence[int] = (32, 64, 128, 256),
    width: int = 128,
    layers: int = 2,
    heads: int = 4,
    warmup: int = 100,
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
) -> Path:
    """Train a dual encoder on ``scenes`` captioned training scenes and save the
    :class:`~difflab.pipelines.clip.CLIPEncoder` folder ``out`` (module docstring).

    ``text_encoder``: a name of :data:`~difflab.pipelines.training.TEXT_ENCODERS_BY_NAME` or
    an encoder config. ``embed_dim``, ``channels``, ``width``, ``layers``, ``heads``: the
    network (:class:`~difflab.nets.contrastive.DualEncoder`). The rest are
    :func:`difflab.train.fit`'s. Returns ``out``.
    """
    from ..data.shapes import to_tensor
    from ..nets.contrastive import DualEncoder
    from ..text import text_encoder_from_config
    from ..train.contrastive import ContrastiveLoss
    from ..train.distributed import init_distributed
    from ..train.loop import fit
    from .data import render_scenes
    from .training import TEXT_ENCODERS_BY_NAME, caption_cache, main_process_first, pick_phrasing

    out = Path(out)
    if isinstance(text_encoder, str):
        if text_encoder not in TEXT_ENCODERS_BY_NAME:
            raise ValueError(f"unknown text encoder {text_encoder!r}; expected one of: {', '.join(TEXT_ENCODERS_BY_NAME)}")
        text_encoder = TEXT_ENCODERS_BY_NAME[text_encoder]
    if isinstance(scenes, bool) or not isinstance(scenes, int) or scenes < 2:
        raise ValueError(f"scenes must be an integer of at least 2, got {scenes!r}")
    w = init_distributed()
    device = torch.device(device) if device is not None else w.device
    encoder = text_encoder_from_config(text_encoder)
    torch.manual_seed(seed)
    net = DualEncoder(image_size, encoder.dim, embed_dim, channels, width, layers, heads).to(device)

    if w.is_main:
        out.mkdir(parents=True, exist_ok=True)
    with main_process_first(w):
        captions = caption_cache(out, encoder, scenes, progress and w.is_main, workers)
    images = torch.from_numpy(render_scenes(range(scenes), image_size, TRAIN_SEED, workers)[0])

    def draw(n: int, g: torch.Generator):
        index = torch.randint(0, scenes, (n,), generator=g)
        row = pick_phrasing(captions["choices"], index, torch.rand(n, generator=g))
        return to_tensor(images[index].numpy()), {"tokens": captions["tokens"][row].float(),
                                                  "mask": captions["mask"][row], "scene": index, "caption": row}

    training = {"scenes": scenes, "steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                "warmup": warmup, "seed": seed, "params": sum(p.numel() for p in net.parameters())}
    clip = CLIPEncoder(net, encoder, {"data": {"name": "shapes", "range": [-1.0, 1.0]}})

    def export(step: int, ema) -> None:
        clip.config["training"] = {**training, "steps_done": step}
        clip.save(out)

    fit(net, draw, steps=steps, loss=ContrastiveLoss(), batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        warmup=warmup, ema_half_life=None, grad_clip=grad_clip, out=out, checkpoint_every=checkpoint_every,
        log_every=log_every, resume=resume, precision=precision, seed=seed, progress=progress, desc="train clip",
        compile=compile, on_checkpoint=export,
        config={"net": net.config, "text_encoder": encoder.config,
                "training": {k: v for k, v in training.items() if k != "steps"}})
    return out

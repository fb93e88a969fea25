"""A CLIP-style encoder of images and texts (Radford et al. 2021): the network and its text encoder as one.

    prompts --text encoder (frozen)--> token states --text head--> w (N, D), |w| = 1
    images  --image tower--------------------------------------> u (N, D), |u| = 1

The network is a :class:`~difflab.nets.contrastive.DualEncoder`; the frozen text
encoder (:mod:`difflab.text`, e.g. MiniLM) gives it token states, so words never seen
in training still land somewhere sensible. ``similarity = u . w`` (cosine).

**Zero-shot classification** (Radford et al. 2021, sec. 3.1.4): each class is named by
one or more prompts; its embedding is the normalised mean of its prompts' embeddings
(prompt ensembling, sec. 3.1.4), and an image's class probabilities are
``softmax_k(s * u . c_k)`` with s the learned inverse temperature.

A folder (:meth:`CLIPEncoder.save`)::

    pipeline.json   {"task": "clip", "text_encoder": {...}, "image_size": S, "training": {...}}
    encoder/        config.json + model.safetensors  (the DualEncoder)
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import torch

__all__ = ["CLIPEncoder", "is_clip_folder", "class_prompts"]

TASK = "clip"


def is_clip_folder(folder) -> bool:
    """True when ``folder`` holds a :class:`CLIPEncoder` (its ``pipeline.json`` names the task)."""
    from ..io.folders import pipeline_task

    return pipeline_task(folder) == TASK


def class_prompts(attribute: str) -> dict[str, list[str]]:
    """The zero-shot classes of a single object's ``attribute`` in the shapes world ("colour",
    "shape", "position") and the prompts that name each: every caption "a {colour} {shape}
    {where}" that fixes the class and varies the other two words (prompt ensembling)."""
    from ..data.shapes import COLOURS, POSITIONS, SHAPES, Attributes, Thing, describe

    if attribute not in ("colour", "shape", "position"):
        raise ValueError(f"unknown attribute {attribute!r}; expected 'colour', 'shape' or 'position'")
    classes = {"colour": COLOURS, "shape": SHAPES, "position": POSITIONS}[attribute]
    out = {}
    for k in classes:
        out[k] = [describe(Attributes((Thing(s, c),), p), "{A} {where}") for c in COLOURS for s in SHAPES
                  for p in POSITIONS if k == {"colour": c, "shape": s, "position": p}[attribute]]
    return out


class CLIPEncoder:
    """A :class:`~difflab.nets.contrastive.DualEncoder` with its text encoder (module docstring).

    Args:
        net: the dual encoder; its ``text_dim`` must be the text encoder's width.
        text_encoder: a :class:`~difflab.text.TextEncoder`.
        config: JSON-able notes written to ``pipeline.json`` (e.g. ``training``).
    """

    def __init__(self, net, text_encoder, config: dict | None = None) -> None:
        if net.text_dim != text_encoder.dim:
            raise ValueError(f"the dual encoder reads {net.text_dim}-d token states but the text encoder gives "
                             f"{text_encoder.dim}-d ones")
        self.net, self.text_encoder = net, text_encoder
        self.config = {**(config or {}), "image_size": net.image_size}

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def dim(self) -> int:
        """The embedding's dimension."""
        return self.net.embed_dim

    def to(self, device) -> "CLIPEncoder":
        self.net.to(device)
        return self

    # -- encoding -------------------------------------------------------------------
    @torch.no_grad()
    def encode_text(self, prompts: Sequence[str], return_tokens: bool = False):
        """Unit embeddings (N, D) of ``prompts`` (a list of str; one-line errors otherwise); with
        ``return_tokens``, also the text encoder's token states and mask on the encoder's device
        (what the prior and the decoder read), from the same single run of the text encoder."""
        from ..text import check_prompts

        emb = self.text_encoder.encode(check_prompts(prompts))
        tokens, mask = emb.tokens.to(self.device), emb.mask.to(self.device)
        w = self.net.encode_tokens(tokens, mask)
        return (w, tokens, mask) if return_tokens else w

    def images_tensor(self, images) -> torch.Tensor:
        """``images`` as (N, 3, S, S) in [-1, 1] on the encoder's device: a float tensor in [-1, 1],
        or a list of paths, PIL images or uint8 arrays (each of the encoder's size; never resized)."""
        if isinstance(images, torch.Tensor):
            x = images
        else:
            import numpy as np

            from ..data.shapes import to_tensor
            from ..masks import load_image

            if isinstance(images, (str, Path)) or not isinstance(images, (list, tuple)) or not images:
                raise TypeError("images must be a non-empty list of paths, PIL images or uint8 arrays, or a tensor")
            x = to_tensor(np.stack([load_image(im, "RGB", self.net.image_size) for im in images]))
        if not x.is_floating_point():
            raise ValueError(f"an image tensor must be float in [-1, 1], got {x.dtype}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"an image tensor must have shape (N, 3, H, W), got {tuple(x.shape)}")
        if x.numel() and (not torch.isfinite(x).all() or x.min() < -1.001 or x.max() > 1.001):
            raise ValueError("an image tensor must hold values in [-1, 1] (uint8 images: pass arrays, not tensors)")
        return x.to(self.device, torch.float32)

    @torch.no_grad()
    def encode_image(self, images, batch_size: int = 256) -> torch.Tensor:
        """Unit embeddings (N, D) of ``images`` (see :meth:`images_tensor`)."""
        x = self.images_tensor(images)
        return torch.cat([self.net.encode_image(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    @torch.no_grad()
    def class_embeddings(self, classes: Mapping[str, Sequence[str]] | Sequence[str]) -> torch.Tensor:
        """(K, D): per class, the normalised mean embedding of its prompts (one prompt per class
        when ``classes`` is a list of str; prompt ensembling when a dict name -> prompts)."""
        groups = {c: [c] for c in classes} if not isinstance(classes, Mapping) else dict(classes)
        if any(isinstance(p, str) for p in groups.values()):
            raise ValueError("each class's prompts must be a list of strings, not one string")
        if not groups or any(not p for p in groups.values()):
            raise ValueError("classes must name at least one class, each with at least one prompt")
        rows = [torch.nn.functional.normalize(self.encode_text(list(p)).mean(0), dim=0) for p in groups.values()]
        return torch.stack(rows)

    @torch.no_grad()
    def zero_shot(self, images, classes: Mapping[str, Sequence[str]] | Sequence[str]) -> torch.Tensor:
        """Class probabilities (N, K) of ``images`` among ``classes`` (module docstring)."""
        u = self.encode_image(images)
        return torch.softmax(self.net.scale() * u @ self.class_embeddings(classes).T, dim=1)

    # -- folders --------------------------------------------------------------------
    def save(self, folder, *, dtype: torch.dtype | None = None) -> Path:
        """Write the folder (module docstring); ``dtype`` (e.g. ``torch.float16``) stores the
        weights in that precision (loading casts them back to float32)."""
        from ..io.folders import save_network, write_pipeline_config

        folder = Path(folder)
        save_network(folder / "encoder", self.net, "clip-dual-encoder", dtype=dtype)
        write_pipeline_config(folder, {"task": TASK, "text_encoder": self.text_encoder.config, **self.config})
        return folder

    @classmethod
    def load(cls, folder, device: str | torch.device = "cpu") -> "CLIPEncoder":
        """Load a folder written by :meth:`save` (a one-line error for any other folder)."""
        from ..io.folders import load_network_folder, read_pipeline_config
        from ..nets.contrastive import DualEncoder
        from ..text import text_encoder_from_config

        config = read_pipeline_config(folder, TASK, required=("text_encoder",))
        net, _ = load_network_folder(Path(folder) / "encoder", lambda c: DualEncoder(**c), "clip-dual-encoder",
                                     "a CLIP dual encoder", device)
        return cls(net, text_encoder_from_config(config.pop("text_encoder")), config)

    def __repr__(self) -> str:
        return f"CLIPEncoder(dim={self.dim}, image_size={self.net.image_size}, text_encoder={self.text_encoder!r})"

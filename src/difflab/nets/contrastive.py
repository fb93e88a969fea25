"""A CLIP-style dual encoder: images and texts into one embedding space (Radford et al. 2021).

    image (N, 3, S, S) in [-1, 1]   --image tower-->   u (N, embed_dim), |u| = 1
    text tokens (N, L, text_dim)    --text head-->     w (N, embed_dim), |w| = 1

Trained contrastively (:func:`difflab.losses.contrastive_loss`, Radford et al. 2021,
fig. 3), an image and its caption land close (cosine near 1) and unrelated pairs far.

- The **image tower** is a small convolutional network: per level a stride-2 3x3
  convolution and a 3x3 convolution, each followed by GroupNorm and SiLU, halving the
  side ``len(channels)`` times; the last feature map is *flattened*, not pooled, so
  where an object stands (left, right, above) survives into the embedding; two linear
  layers map it to ``embed_dim``.
- The **text head** reads the token states of a frozen text encoder (e.g. MiniLM,
  :mod:`difflab.text`): a linear map to ``width``, a learned summary token prepended,
  ``layers`` pre-norm transformer layers (Vaswani et al. 2017) with the padding masked
  out, and the summary token's final state mapped to ``embed_dim`` (CLIP's text
  transformer takes the state at its [EOS] token the same way).
- ``logit_scale`` is the learned inverse temperature log(1 / tau) of the contrastive
  loss, initialised at log(1 / 0.07) and used clamped to at most log(100), as in
  Radford et al. 2021, sec. 2.5.

The network knows nothing of strings: :class:`difflab.pipelines.clip.CLIPEncoder`
pairs it with its text encoder.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DualEncoder", "MAX_LOGIT_SCALE"]

#: the largest inverse temperature the loss uses (Radford et al. 2021, sec. 2.5: 100)
MAX_LOGIT_SCALE = math.log(100.0)


def _conv_block(c_in: int, c_out: int, stride: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.GroupNorm(groups, c_out), nn.SiLU())


class DualEncoder(nn.Module):
    """Image tower and text head into a shared ``embed_dim``-d space (module docstring).

    Args:
        image_size: the side S of the (square) images the tower takes.
        text_dim: the width of the text encoder's token states.
        embed_dim: the shared embedding's dimension.
        channels: the image tower's channels per level (the side halves at each).
        width, layers, heads: the text head's transformer.
        in_channels: image channels.
        groups: GroupNorm groups of the image tower.
    """

    def __init__(self, image_size: int = 64, text_dim: int = 384, embed_dim: int = 64,
                 channels: Sequence[int] = (32, 64, 128, 256), width: int = 128, layers: int = 2, heads: int = 4,
                 in_channels: int = 3, groups: int = 8) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        for name, v in (("image_size", image_size), ("text_dim", text_dim), ("embed_dim", embed_dim),
                        ("width", width), ("layers", layers), ("heads", heads), ("in_channels", in_channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not channels or any(c < 1 or c % groups for c in channels):
            raise ValueError(f"channels must be positive multiples of groups={groups}, got {channels}")
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.config = {"image_size": image_size, "text_dim": text_dim, "embed_dim": embed_dim,
                       "channels": channels, "width": width, "layers": layers, "heads": heads,
                       "in_channels": in_channels, "groups": groups}
        self.image_size, self.embed_dim, self.text_dim = image_size, embed_dim, text_dim

        blocks, c_prev, side = [], in_channels, image_size
        for c in channels:
            blocks += [_conv_block(c_prev, c, 2, groups), _conv_block(c, c, 1, groups)]
            c_prev, side = c, (side + 1) // 2
        self.tower = nn.Sequential(*blocks)
        self.image_proj = nn.Sequential(nn.Flatten(), nn.Linear(c_prev * side * side, 4 * embed_dim), nn.SiLU(),
                                        nn.Linear(4 * embed_dim, embed_dim))

        self.text_in = nn.Linear(text_dim, width)
        self.summary = nn.Parameter(torch.randn(width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.text_layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.text_norm = nn.LayerNorm(width)
        self.text_proj = nn.Linear(width, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings (N, embed_dim) of images (N, C, S, S) in [-1, 1]."""
        c, s = self.config["in_channels"], self.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (c, s, s):
            raise ValueError(f"images must have shape (N, {c}, {s}, {s}), got {tuple(images.shape)}")
        return F.normalize(self.image_proj(self.tower(images)), dim=-1)

    def encode_tokens(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Unit-length embeddings (N, embed_dim) of text token states (N, L, text_dim);
        ``mask`` (N, L) bool, True = a real token (padding is ignored)."""
        if tokens.ndim != 3 or tokens.shape[2] != self.text_dim:
            raise ValueError(f"tokens must have shape (N, L, {self.text_dim}), got {tuple(tokens.shape)}")
        n = tokens.shape[0]
        h = self.text_in(tokens.to(self.text_in.weight.dtype))
        h = torch.cat([self.summary.expand(n, 1, -1).to(h.dtype), h], dim=1)
        pad = None
        if mask is not None:
            if mask.shape != tokens.shape[:2]:
                raise ValueError(f"mask must have shape {tuple(tokens.shape[:2])}, got {tuple(mask.shape)}")
            keep = torch.cat([torch.ones(n, 1, dtype=torch.bool, device=mask.device), mask.bool()], dim=1)
            pad = ~keep
        h = self.text_layers(h, src_key_padding_mask=pad)
        return F.normalize(self.text_proj(self.text_norm(h[:, 0])), dim=-1)

    def scale(self) -> torch.Tensor:
        """The inverse temperature exp(logit_scale), clamped to at most 100."""
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()

    def forward(self, images: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor | None = None):
        """(image embeddings, text embeddings, inverse temperature) of paired batches."""
        return self.encode_image(images), self.encode_tokens(tokens, mask), self.scale()

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items())

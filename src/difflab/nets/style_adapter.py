"""A style adapter in the manner of IP-Adapter (Ye et al. 2023): a small image encoder whose
tokens enter a frozen text-conditioned :class:`~difflab.nets.UNet` through cross-attention of
their own ("decoupled cross-attention", the paper's eq. 5), trained to carry the *style* of a
reference image while the prompt sets the content.

    tokens = head(stats(E(x_ref)))                                   (N, T, context_dim)
    Z = Attention(Q, K_text, V_text) + w Attention(Q, tokens W_k, tokens W_v)      ("decoupled")

in every cross-attention layer, Q the layer's own queries and Z what its output projection
receives. With ``attention="joint"`` the tokens instead join the text tokens in the layer's own
cross-attention, through its own (frozen) key and value projection, as a learned word would
(textual inversion, Gal et al. 2023, with the word read from an image):

    Z = Attention(Q, [K_text; tokens W_k^text], [V_text; tokens W_v^text], logits of the tokens + log w)

so the encoder only has to find, in the text encoder's space, what the network already draws
(a style it was trained to name), and w = 0 is the text's attention alone.

E is a small CNN; ``stats`` are the per-channel means and standard deviations of its
feature maps at every depth: the statistics that carry style (Gatys et al. 2016; AdaIN, Huang &
Belongie 2017) and none of the layout. W_k, W_v start as copies of the layer's text keys and
values (without their bias), as IP-Adapter initialises them; the head's last layer starts at zero, so the adapted
network starts exactly as the base one. ``w`` is the style weight of each sample: 0 is the base
network (classifier-free guidance's unconditional branch), 1 what training used.
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .unet import AttentionBlock

__all__ = ["ATTENTION", "StyleEncoder", "StyleAdapter", "StyleAdaptedNet", "cross_attention_blocks", "image_prompt"]


def cross_attention_blocks(net: nn.Module) -> list[AttentionBlock]:
    """The attention blocks of ``net`` that have cross-attention, in module order."""
    return [m for m in net.modules() if isinstance(m, AttentionBlock) and m.cross]


@contextlib.contextmanager
def image_prompt(blocks: Sequence[AttentionBlock], keys_values: Sequence[tuple[torch.Tensor, torch.Tensor]],
                 weights: torch.Tensor, joint: bool = False):
    """Within the block, each of ``blocks`` also attends to its image-prompt keys and values
    (:meth:`AttentionBlock._image_prompt`), weighted per sample by ``weights`` (N,); ``joint``:
    in the text's own softmax (:meth:`AttentionBlock._joint_image_prompt`)."""
    if len(blocks) != len(keys_values):
        raise ValueError(f"{len(keys_values)} keys/values for {len(blocks)} cross-attention layers")
    try:
        for block, (k, v) in zip(blocks, keys_values):
            block.image_prompt = (k, v, weights, bool(joint))
        yield
    finally:
        for block in blocks:
            block.image_prompt = None


class StyleEncoder(nn.Module):
    """Image (N, 3, H, W) in [-1, 1] -> ``tokens`` tokens of ``context_dim``: a CNN (3x3
    convolutions, the first at full resolution, the rest halving it), the per-channel mean and
    standard deviation of every layer's feature map, and a two-layer head whose last layer
    starts at zero."""

    def __init__(self, context_dim: int, tokens: int = 4, widths: Sequence[int] = (32, 64, 128, 128),
                 hidden: int = 256) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1 or tokens < 1 or hidden < 1:
            raise ValueError(f"widths, tokens and hidden must be positive, got {widths}, {tokens}, {hidden}")
        self.tokens, self.context_dim = int(tokens), int(context_dim)
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, 3, stride=1 if i == 0 else 2, padding=1)
                                   for i, (c_in, c_out) in enumerate(zip([3, *widths[:-1]], widths)))
        self.head = nn.Sequential(nn.Linear(2 * sum(widths), hidden), nn.SiLU(), nn.Linear(hidden, tokens * context_dim))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"a style reference must be images (N, 3, H, W), got shape {tuple(x.shape)}")
        stats, h = [], x.to(self.convs[0].weight.dtype)
        for conv in self.convs:
            h = F.silu(conv(h))
            stats += [h.mean((2, 3)), (h.var((2, 3), unbiased=False) + 1e-6).sqrt()]
        return self.head(torch.cat(stats, 1)).view(x.shape[0], self.tokens, self.context_dim)


#: how the reference's tokens reach the network (module docstring)
ATTENTION = ("decoupled", "joint")


class StyleAdapter(nn.Module):
    """The trained part: a :class:`StyleEncoder` and, with ``attention="decoupled"``, for each
    cross-attention layer of the base network ``net``, the image prompt's key and value projection
    (initialised from the layer's text one, without its bias, so that zero tokens give zero keys
    and values); with ``"joint"`` the encoder alone (the layers' own projections serve). ``config``
    rebuilds it (with a network of the same shape)."""

    def __init__(self, net: nn.Module, tokens: int = 4, widths: Sequence[int] = (32, 64, 128, 128),
                 hidden: int = 256, attention: str = "decoupled") -> None:
        super().__init__()
        if attention not in ATTENTION:
            raise ValueError(f"attention must be one of {list(ATTENTION)}, got {attention!r}")
        blocks = cross_attention_blocks(net)
        if not blocks:
            raise ValueError("the network has no cross-attention layers for a style adapter")
        context_dim = blocks[0].kv_x.in_features
        self.encoder = StyleEncoder(context_dim, tokens, widths, hidden)
        self.joint = attention == "joint"
        self.kv = nn.ModuleList()
        for block in blocks if not self.joint else ():
            layer = nn.Linear(context_dim, block.kv_x.out_features, bias=False)
            with torch.no_grad():
                layer.weight.copy_(block.kv_x.weight.float())
            self.kv.append(layer)
        self.config = {"tokens": int(tokens), "widths": [int(w) for w in widths], "hidden": int(hidden),
                       "context_dim": int(context_dim), "layers": [b.kv_x.out_features // 2 for b in blocks],
                       "attention": attention}

    def keys_values(self, tokens: torch.Tensor, blocks: Sequence[AttentionBlock]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each layer's (keys, values) of the tokens (N, T, context_dim): through the adapter's
        projections, or (joint) through each of ``blocks``' own."""
        layers = [b.kv_x for b in blocks] if self.joint else self.kv
        return [tuple(layer(tokens.to(layer.weight.dtype)).chunk(2, dim=-1)) for layer in layers]


class StyleAdaptedNet(nn.Module):
    """``net`` with a :class:`StyleAdapter`: ``forward(x, noise_input, *, style_image=None,
    style_tokens=None, style_weight=None, **cond)``. ``style_image`` (N, 3, H, W) goes through
    the adapter's encoder (training); ``style_tokens`` are its output already (sampling, where
    one reference serves every step; (1, T, D) serves the whole batch); ``style_weight`` (N,) or
    a number is w (default 1). Neither: the base network alone."""

    def __init__(self, net: nn.Module, adapter: StyleAdapter) -> None:
        super().__init__()
        blocks = cross_attention_blocks(net)
        widths = [b.kv_x.out_features // 2 for b in blocks]
        if widths != adapter.config["layers"]:
            raise ValueError(f"the style adapter was made for cross-attention layers of widths {adapter.config['layers']}, "
                             f"this network's are {widths}: was it trained for another model?")
        self.net, self.adapter = net, adapter
        self._blocks = blocks
        self.config = getattr(net, "config", None)

    def forward(self, x: torch.Tensor, noise_input, *, style_image: torch.Tensor | None = None,
                style_tokens: torch.Tensor | None = None, style_weight=None, **cond) -> torch.Tensor:
        if style_image is None and style_tokens is None:
            return self.net(x, noise_input, **cond)
        tokens = self.adapter.encoder(style_image) if style_tokens is None else style_tokens
        n = x.shape[0]
        w = torch.ones(n) if style_weight is None else torch.as_tensor(style_weight, dtype=torch.float32)
        w = w.to(x.device).expand(n) if w.ndim == 0 else w.to(x.device)
        if w.shape != (n,):
            raise ValueError(f"style_weight must be a number or have shape ({n},), got {tuple(w.shape)}")
        with image_prompt(self._blocks, self.adapter.keys_values(tokens, self._blocks), w, self.adapter.joint):
            return self.net(x, noise_input, **cond)

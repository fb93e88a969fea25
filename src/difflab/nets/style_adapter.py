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
(a style it was trained to name), and w = 0 is the text's attention alone. With
``attention="both"`` a second encoder's tokens join the text (as ``"joint"``) while the first's
enter through the decoupled cross-attention, the two terms in every layer: a word can change
*where* the image attends (an outline's interior left as background), which an added term
cannot, and the added term passes what no word says.

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


KeysValues = Sequence[tuple[torch.Tensor, torch.Tensor]]


@contextlib.contextmanager
def image_prompt(blocks: Sequence[AttentionBlock], weights: torch.Tensor, *, decoupled: KeysValues | None = None,
                 joint: KeysValues | None = None):
    """Within the block, each of ``blocks`` also attends to its image-prompt keys and values,
    weighted per sample by ``weights`` (N,): ``decoupled``, one (keys, values) per block, through
    cross-attention of their own (:meth:`AttentionBlock._image_prompt`); ``joint`` in the text's
    own softmax (:meth:`AttentionBlock._joint_image_prompt`); either or both."""
    if decoupled is None and joint is None:
        raise ValueError("an image prompt needs decoupled or joint keys and values")
    for given in (decoupled, joint):
        if given is not None and len(given) != len(blocks):
            raise ValueError(f"{len(given)} keys/values for {len(blocks)} cross-attention layers")
    try:
        for i, block in enumerate(blocks):
            block.image_prompt = (None if decoupled is None else tuple(decoupled[i]),
                                  None if joint is None else tuple(joint[i]), weights)
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
ATTENTION = ("decoupled", "joint", "both")


class StyleAdapter(nn.Module):
    """The trained part: a :class:`StyleEncoder` and, with ``attention="decoupled"``, for each
    cross-attention layer of the base network ``net``, the image prompt's key and value projection
    (initialised from the layer's text one, without its bias, so that zero tokens give zero keys
    and values); with ``"joint"`` the encoder alone (the layers' own projections serve); with
    ``"both"`` the decoupled adapter and a second encoder (``joint_encoder``) whose tokens join the
    text. :meth:`encode` gives the tokens of a reference (with ``"both"``, the decoupled ones then
    the joint ones); ``config`` rebuilds it (with a network of the same shape)."""

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
        self.attention, self.tokens = attention, int(tokens)
        self.joint_encoder = StyleEncoder(context_dim, tokens, widths, hidden) if attention == "both" else None
        self.kv = nn.ModuleList()
        for block in blocks if attention != "joint" else ():
            layer = nn.Linear(context_dim, block.kv_x.out_features, bias=False)
            with torch.no_grad():
                layer.weight.copy_(block.kv_x.weight.float())
            self.kv.append(layer)
        self.config = {"tokens": int(tokens), "widths": [int(w) for w in widths], "hidden": int(hidden),
                       "context_dim": int(context_dim), "layers": [b.kv_x.out_features // 2 for b in blocks],
                       "attention": attention}

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """The tokens (N, T or 2T, context_dim) of references ``image`` (N, 3, H, W) in [-1, 1]."""
        tokens = self.encoder(image)
        return tokens if self.joint_encoder is None else torch.cat([tokens, self.joint_encoder(image)], dim=1)

    def keys_values(self, tokens: torch.Tensor, blocks: Sequence[AttentionBlock]) -> dict[str, list]:
        """The keyword arguments of :func:`image_prompt` for ``blocks`` from the tokens
        (:meth:`encode`): each layer's (keys, values), ``decoupled`` through the adapter's
        projections, ``joint`` through each of ``blocks``' own."""
        def through(layers, x):
            return [tuple(layer(x.to(layer.weight.dtype)).chunk(2, dim=-1)) for layer in layers]

        expected = self.tokens * (2 if self.attention == "both" else 1)
        if tokens.shape[1] != expected:
            raise ValueError(f"this style adapter ({self.attention}) reads {expected} tokens, got {tokens.shape[1]}")
        if self.attention == "decoupled":
            return {"decoupled": through(self.kv, tokens)}
        if self.attention == "joint":
            return {"joint": through([b.kv_x for b in blocks], tokens)}
        return {"decoupled": through(self.kv, tokens[:, :self.tokens]),
                "joint": through([b.kv_x for b in blocks], tokens[:, self.tokens:])}

    @classmethod
    def both(cls, net: nn.Module, decoupled: "StyleAdapter", joint: "StyleAdapter") -> "StyleAdapter":
        """An ``attention="both"`` adapter that starts as the sum of a trained ``decoupled`` and a
        trained ``joint`` adapter of ``net`` (their encoders and projections copied)."""
        if decoupled.attention != "decoupled" or joint.attention != "joint":
            raise ValueError(f"give a decoupled and a joint adapter, got {decoupled.attention} and {joint.attention}")
        shape = ("tokens", "widths", "hidden")
        if any(decoupled.config[k] != joint.config[k] for k in shape):
            raise ValueError(f"the two adapters differ in shape: {[decoupled.config[k] for k in shape]} and "
                             f"{[joint.config[k] for k in shape]}")
        c = decoupled.config
        out = cls(net, c["tokens"], c["widths"], c["hidden"], "both").to(next(decoupled.parameters()).device)
        out.encoder.load_state_dict(decoupled.encoder.state_dict())
        out.kv.load_state_dict(decoupled.kv.state_dict())
        out.joint_encoder.load_state_dict(joint.encoder.state_dict())
        return out


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
        tokens = self.adapter.encode(style_image) if style_tokens is None else style_tokens
        n = x.shape[0]
        w = torch.ones(n) if style_weight is None else torch.as_tensor(style_weight, dtype=torch.float32)
        w = w.to(x.device).expand(n) if w.ndim == 0 else w.to(x.device)
        if w.shape != (n,):
            raise ValueError(f"style_weight must be a number or have shape ({n},), got {tuple(w.shape)}")
        with image_prompt(self._blocks, w, **self.adapter.keys_values(tokens, self._blocks)):
            return self.net(x, noise_input, **cond)

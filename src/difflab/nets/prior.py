"""The diffusion prior's network of unCLIP (Ramesh et al. 2022, "DALL-E 2", sec. 2.2).

    x (N, D) noised image embedding, noise_input (N,), context (N, L, text_dim),
    text_embed (N, D)   ->   (N, D)

A transformer over one sequence per sample (Ramesh et al. 2022, sec. 2.2, "a
decoder-only Transformer ... on a sequence consisting of, in order: the encoded text,
the CLIP text embedding, an embedding for the diffusion timestep, the noised CLIP image
embedding, and a final embedding whose output from the Transformer is used to predict
the unnoised CLIP image embedding"):

    [ W_c context_1 .. W_c context_L,  W_t text_embed,  time(noise_input),  W_x x,  q ]

each projected to ``width``, with a learned position embedding per slot (the fixed slots
follow the L context slots, so their positions depend on L), through
``layers`` pre-norm transformer layers (the padding of the context masked out), and
the final slot's state mapped back to D. The paper uses a causal mask; here every slot
sees every other (the output slot comes last either way). What the output means (the
clean embedding, as in the paper, or the noise) is the :class:`~difflab.Denoiser`'s
business: the network only maps inputs to a D-vector.

A network trained on contexts of one length L (its caption cache is cut to the longest
training caption) has learned the fixed slots at positions L .. L + 3 only; ``context_length``
records L, and every context is then padded (masked) or cut to it, so that prompts of any
length up to L see the positions of training. Without it the positions follow the given
context's length.

``context=None`` and ``text_embed=None`` are the null condition of classifier-free
guidance when the trainer drops the text by replacing both with the encodings of the
empty prompt; the network itself accepts any tensors of the right shapes.
"""

from __future__ import annotations

import torch
from torch import nn

from .embedding import sinusoidal_embedding

__all__ = ["PriorTransformer"]


class PriorTransformer(nn.Module):
    """The prior network (module docstring).

    Args:
        embed_dim: D, the dimension of the image and text embeddings.
        text_dim: the width of the text encoder's token states (the context).
        width, layers, heads: the transformer.
        max_length: the most context tokens (sizes the position embedding).
        context_length: the context length the network was trained with (module docstring);
            None: whatever length is given.
        max_period, input_scale: of the sinusoidal time embedding (as :class:`~difflab.nets.MLP`).
    """

    def __init__(self, embed_dim: int = 64, text_dim: int = 384, width: int = 256, layers: int = 4, heads: int = 4,
                 max_length: int = 64, max_period: float = 10_000.0, input_scale: float = 1.0,
                 context_length: int | None = None) -> None:
        super().__init__()
        for name, v in (("embed_dim", embed_dim), ("text_dim", text_dim), ("width", width), ("layers", layers),
                        ("heads", heads), ("max_length", max_length)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        if context_length is not None and (isinstance(context_length, bool) or not isinstance(context_length, int)
                                           or not 1 <= context_length <= max_length):
            raise ValueError(f"context_length must be an integer from 1 to max_length={max_length}, got {context_length!r}")
        self.config = {"type": "prior", "embed_dim": embed_dim, "text_dim": text_dim, "width": width,
                       "layers": layers, "heads": heads, "max_length": max_length, "max_period": max_period,
                       "input_scale": input_scale, **({"context_length": context_length} if context_length else {})}
        self.context_length = context_length
        self.embed_dim, self.text_dim, self.width, self.max_length = embed_dim, text_dim, width, max_length
        self.max_period, self.input_scale = max_period, input_scale
        self.context_in = nn.Linear(text_dim, width)
        self.text_in = nn.Linear(embed_dim, width)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.x_in = nn.Linear(embed_dim, width)
        self.query = nn.Parameter(torch.randn(width) * 0.02)
        self.position = nn.Parameter(torch.randn(max_length + 4, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, embed_dim)

    def forward(self, x: torch.Tensor, noise_input: torch.Tensor, *, context: torch.Tensor,
                context_mask: torch.Tensor | None = None, text_embed: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if x.ndim != 2 or x.shape[1] != self.embed_dim:
            raise ValueError(f"x must have shape (N, {self.embed_dim}), got {tuple(x.shape)}")
        if context.ndim != 3 or context.shape[0] != n or context.shape[2] != self.text_dim:
            raise ValueError(f"context must have shape ({n}, L, {self.text_dim}), got {tuple(context.shape)}")
        if context.shape[1] > self.max_length:
            raise ValueError(f"context has {context.shape[1]} tokens, more than max_length={self.max_length}")
        if text_embed.shape != (n, self.embed_dim):
            raise ValueError(f"text_embed must have shape ({n}, {self.embed_dim}), got {tuple(text_embed.shape)}")
        if context_mask is not None and context_mask.shape != context.shape[:2]:
            raise ValueError(f"context_mask must have shape {tuple(context.shape[:2])}, got {tuple(context_mask.shape)}")
        if self.context_length is not None:
            context, context_mask = self._fit_context(context, context_mask)
        noise_input = torch.as_tensor(noise_input, device=x.device)
        if noise_input.ndim == 0:
            noise_input = noise_input.expand(n)
        dtype = self.x_in.weight.dtype
        time = self.time_mlp(sinusoidal_embedding(noise_input * self.input_scale, self.width,
                                                  self.max_period).to(dtype))
        length = context.shape[1]
        h = torch.cat([self.context_in(context.to(dtype)), self.text_in(text_embed.to(dtype))[:, None],
                       time[:, None], self.x_in(x.to(dtype))[:, None], self.query.expand(n, 1, -1)], dim=1)
        h = h + self.position[: length + 4]
        pad = None
        if context_mask is not None:
            pad = torch.cat([~context_mask.bool(), context_mask.new_zeros(n, 4, dtype=torch.bool)], dim=1)
        h = self.layers(h, src_key_padding_mask=pad)
        return self.out(self.norm(h[:, -1])).to(x.dtype)

    def _fit_context(self, context: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``context`` and its mask padded (masked out) or cut to :attr:`context_length`; a
        one-line error where a cut would drop tokens."""
        n, length, _ = context.shape
        target = self.context_length
        if mask is None:
            mask = torch.ones(n, length, dtype=torch.bool, device=context.device)
        mask = mask.bool()
        if length > target:
            if mask[:, target:].any():
                raise ValueError(f"a prompt of {int(mask.sum(1).max())} tokens is longer than the {target} tokens this prior was "
                                 f"trained on; shorten it")
            return context[:, :target], mask[:, :target]
        if length < target:
            context = torch.cat([context, context.new_zeros(n, target - length, context.shape[2])], 1)
            mask = torch.cat([mask, mask.new_zeros(n, target - length)], 1)
        return context, mask

    def extra_repr(self) -> str:
        return f"params={sum(p.numel() for p in self.parameters()):,}"

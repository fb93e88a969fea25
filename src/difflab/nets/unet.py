"""A U-Net for images: Ho et al. 2020 (app. B) with the improvements of Dhariwal & Nichol 2021.

    x (N, C, H, W), noise_input (N,)  ->  a tensor of the same shape as x

The architecture is the PixelCNN++-style U-Net of DDPM (Ho et al. 2020, app. B):
a stack of residual blocks (GroupNorm, SiLU, 3x3 conv; Wu & He 2018, Ramachandran
et al. 2017) per resolution, downsampling by strided convs, a middle
``ResBlock - attention - ResBlock``, and an upsampling path that concatenates the
skip connection saved at the same depth. Self-attention sits at the resolutions
listed in ``attention_resolutions``. From Dhariwal & Nichol 2021 (sec. 3) it takes
the adaptive group normalisation ("AdaGN", a FiLM scale-shift,
Perez et al. 2018): the noise-level embedding e gives (y_s, y_b) and a block
computes ``GroupNorm(h) * (1 + y_s) + y_b``; multi-head attention (``head_channels``
per head); and zero-initialised residual output convolutions, so every block starts
as the identity and the whole network starts by predicting 0.

The noise-level input (whatever a :class:`~difflab.Denoiser` feeds it: a DDPM index,
t, log-SNR, c_noise ...) is multiplied by ``input_scale`` and embedded sinusoidally
(:func:`~difflab.nets.embedding.sinusoidal_embedding`), exactly as in
:class:`~difflab.nets.MLP`. The network knows nothing of schedules.

Optional conditioning, each off unless configured:

- class labels (``num_classes``): a learned embedding added to the time embedding
  (Dhariwal & Nichol 2021, sec. 4). Index ``num_classes`` is reserved for the
  "null" label of classifier-free guidance (Ho & Salimans 2022); ``labels=None``
  means the null label for every sample.
- a token sequence (``context_dim``): cross-attention from the image to
  ``context`` (N, L, context_dim) after every self-attention layer (Rombach et al.
  2022, sec. 3.3). ``context_mask`` (N, L) bool, True = attend, hides padding.
- an embedding vector (``embed_dim``, e.g. a CLIP image embedding, as the decoder of
  Ramesh et al. 2022, sec. 2.1): ``embed`` (N, embed_dim) is projected and added to the
  time embedding, and projected into ``embed_tokens`` extra tokens appended to the
  cross-attention context (needs ``context_dim``). ``embed=None`` is the zero vector,
  the null condition of classifier-free guidance (the paper sets it to zero).
- extra input channels (``concat_channels``): ``concat`` (N, concat_channels, H, W)
  is concatenated to x before the first convolution (as in SR3, Saharia et al.
  2021, and inpainting models).

Any spatial size works, odd ones included (28 -> 14 -> 7): downsampling rounds up
and each upsampling goes back to the exact size of its skip connection.
``image_size`` only decides where attention layers go; the resolution of level l is
``image_size`` halved (rounding up) l times.
"""

from __future__ import annotations

import math

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..tensors import append_dims
from .embedding import sinusoidal_embedding

__all__ = ["UNet", "shared_attention"]


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """h + conv(drop(silu(AdaGN(conv(silu(GroupNorm(h))), e)))), AdaGN as in Dhariwal & Nichol 2021 sec. 3."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.drop = nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        z = self.conv1(F.silu(self.norm1(h)))
        scale, shift = self.emb(F.silu(emb)).chunk(2, dim=1)
        # AdaGN: GroupNorm(z) * (1 + y_s) + y_b, as one fused multiply-add
        z = torch.addcmul(append_dims(shift, z.ndim), self.norm2(z), 1 + append_dims(scale, z.ndim))
        z = self.conv2(self.drop(F.silu(z)))
        return self.skip(h) + z


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(N, T, C) -> (N, heads, T, C / heads)."""
    n, t, c = x.shape
    return x.reshape(n, t, heads, c // heads).transpose(1, 2)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H*W positions (Vaswani et al. 2017; Ho et al.
    2020 app. B), then, if ``context_dim``, cross-attention to a token sequence
    (Rombach et al. 2022, eq. 3). Each is a pre-norm residual branch whose output
    projection starts at zero."""

    def __init__(self, ch: int, heads: int, groups: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.share: tuple[int, float] | None = None  # (references, weight) while shared_attention is on
        # (decoupled (keys, values) or None, joint (keys, values) or None, weights) of image-prompt tokens
        # while nets.style_adapter.image_prompt is on
        self.image_prompt: tuple | None = None
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Linear(ch, 3 * ch)
        self.proj = _zero(nn.Linear(ch, ch))
        self.cross = context_dim is not None
        if self.cross:
            self.norm_x = nn.GroupNorm(groups, ch)
            self.q_x = nn.Linear(ch, ch)
            self.kv_x = nn.Linear(context_dim, 2 * ch)
            self.proj_x = _zero(nn.Linear(ch, ch))

    def _tokens(self, norm: nn.GroupNorm, h: torch.Tensor) -> torch.Tensor:
        return norm(h).flatten(2).transpose(1, 2)  # (N, H*W, C)

    def _merge(self, a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        n, c, hh, ww = like.shape
        return a.transpose(1, 2).reshape(n, hh * ww, c)

    def _back(self, tokens: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return tokens.transpose(1, 2).reshape(like.shape)

    def forward(self, h: torch.Tensor, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.qkv(self._tokens(self.norm, h)).chunk(3, dim=-1)
        if self.share is None:
            a = F.scaled_dot_product_attention(_heads(q, self.heads), _heads(k, self.heads), _heads(v, self.heads))
        else:
            a = self._shared(q, k, v)
        h = h + self._back(self.proj(self._merge(a, h)), h)
        if self.cross and context is not None:
            q = self.q_x(self._tokens(self.norm_x, h))
            k, v = self.kv_x(context.to(self.kv_x.weight.dtype)).chunk(2, dim=-1)
            mask = None
            if context_mask is not None:
                # a sample whose tokens are all masked attends to nothing: its branch is 0
                keep = context_mask.any(dim=1)
                mask = (context_mask | ~append_dims(keep, 2))[:, None, None, :]
            if self.image_prompt is not None and self.image_prompt[1] is not None:
                k, v, mask = self._joint_image_prompt(k, v, mask)
            a = F.scaled_dot_product_attention(_heads(q, self.heads), _heads(k, self.heads), _heads(v, self.heads),
                                               attn_mask=mask)
            if self.image_prompt is not None and self.image_prompt[0] is not None:
                a = a + self._image_prompt(q)
            out = self.proj_x(self._merge(a, h))
            if context_mask is not None:
                out = out * append_dims(keep, out.ndim).to(out.dtype)
            h = h + self._back(out, h)
        return h


    def _image_prompt(self, q: torch.Tensor) -> torch.Tensor:
        """The decoupled cross-attention of IP-Adapter (Ye et al. 2023, eq. 5): the same queries
        attend to image-prompt tokens through keys and values of their own, and the result,
        times each sample's weight, joins the text's before the output projection (a sample
        whose prompt tokens are all masked gets neither: its whole cross branch is 0)."""
        (k, v), _, w = self.image_prompt
        n = q.shape[0]
        k, v = (t.to(q.dtype).expand(n, -1, -1) if t.shape[0] == 1 else t.to(q.dtype) for t in (k, v))
        a = F.scaled_dot_product_attention(_heads(q, self.heads), _heads(k, self.heads), _heads(v, self.heads))
        return append_dims(w.to(a.dtype), a.ndim) * a

    def _joint_image_prompt(self, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None):
        """Image-prompt tokens that join the text's own cross-attention: their keys and values
        follow the text's (N, L, C) in one softmax, each sample's logits to them raised by log w,
        so that w = 1 weighs a token as a text token and w = 0 drops them (the text's attention
        alone). Returns (keys, values, additive mask (N, 1, 1, L + T))."""
        _, (ki, vi), w = self.image_prompt
        n, t = k.shape[0], ki.shape[1]
        ki, vi = (x.to(k.dtype).expand(n, -1, -1) if x.shape[0] == 1 else x.to(k.dtype) for x in (ki, vi))
        text = torch.zeros(n, k.shape[1], dtype=k.dtype, device=k.device)
        if mask is not None:
            text = text.masked_fill(~mask[:, 0, 0, :], float("-inf"))
        bias = torch.cat([text, w.to(k.dtype).log()[:, None].expand(n, t)], dim=1)
        return torch.cat([k, ki], dim=1), torch.cat([v, vi], dim=1), bias[:, None, None, :]

    def _shared(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Self-attention shared with the batch's first ``r`` items, the references (Hertz et al.
        2024, StyleAligned): each other item's queries and keys are first normalised to the
        references' per-channel statistics (AdaIN), then it attends to its own tokens and to
        every reference's, the references' logits raised by log(weight). The references attend
        to themselves only."""
        r, weight = self.share
        n, t, c = q.shape
        if not 0 < r < n:
            raise ValueError(f"shared attention needs 1 to {n - 1} references in a batch of {n}, got {r}")

        def adain(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
            mu, sd = x.mean(1, keepdim=True), x.std(1, keepdim=True, unbiased=False) + 1e-6
            return (x - mu) / sd * ref.std((0, 1), keepdim=True, unbiased=False) + ref.mean((0, 1), keepdim=True)

        qr, kr, vr = q[:r], k[:r], v[:r]
        own = F.scaled_dot_product_attention(_heads(qr, self.heads), _heads(kr, self.heads), _heads(vr, self.heads))
        qt, kt = adain(q[r:], qr), adain(k[r:], kr)
        keys = torch.cat([kt, kr.reshape(1, r * t, c).expand(n - r, -1, -1)], 1)
        values = torch.cat([v[r:], vr.reshape(1, r * t, c).expand(n - r, -1, -1)], 1)
        bias = torch.zeros(1, 1, 1, t + r * t, dtype=q.dtype, device=q.device)
        bias[..., t:] = torch.log(torch.as_tensor(float(weight), dtype=q.dtype))
        shared = F.scaled_dot_product_attention(_heads(qt, self.heads), _heads(keys, self.heads),
                                                _heads(values, self.heads), attn_mask=bias)
        return torch.cat([own, shared])


class shared_attention:  # noqa: N801 (a context manager, used as a function)
    """``with shared_attention(net, references, weight):`` every self-attention layer of ``net``
    shares its keys and values with the batch's first ``references`` items (StyleAligned,
    Hertz et al. 2024; :meth:`AttentionBlock._shared`); on leaving, the layers are as before."""

    def __init__(self, net: nn.Module, references: int, weight: float = 1.0) -> None:
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"the style weight must be a finite number > 0, got {weight}")
        self.blocks = [m for m in net.modules() if isinstance(m, AttentionBlock)]
        if not self.blocks:
            raise ValueError("the network has no self-attention layers to share")
        self.share = (int(references), float(weight))

    def __enter__(self):
        for block in self.blocks:
            block.share = self.share
        return self

    def __exit__(self, *exc) -> None:
        for block in self.blocks:
            block.share = None


class Downsample(nn.Module):
    """3x3 conv with stride 2: H -> ceil(H / 2)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv(h)


class Upsample(nn.Module):
    """Nearest-neighbour upsampling to ``size`` (twice the input, or one less for odd
    skips), then a 3x3 conv."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, h: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return self.conv(F.interpolate(h, size=tuple(size), mode="nearest"))


class UNet(nn.Module):
    """U-Net denoiser network for images (see the module docstring for the papers).

    Args:
        in_channels: image channels C of x.
        out_channels: output channels (default ``in_channels``; the Denoiser needs
            them equal).
        channels: base width; level l has ``channels * channel_mult[l]`` channels.
        channel_mult: one width multiplier per resolution level; there are
            ``len(channel_mult) - 1`` downsamplings.
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attention_resolutions: spatial sizes (of a square ``image_size`` input) at
            which self-attention (and cross-attention) layers sit; the middle
            block always has one.
        image_size: the training resolution, used only to place attention layers.
        dropout: dropout rate inside the residual blocks (Ho et al. use 0.1 on CIFAR-10).
        groups: GroupNorm groups; every width must be divisible by it.
        head_channels: channels per attention head (Dhariwal & Nichol use 64); a layer
            narrower than that has one head.
        emb_dim: width of the noise-level embedding (default ``4 * channels``).
        max_period, input_scale: of the sinusoidal embedding, as in :class:`~difflab.nets.MLP`.
        num_classes: enables class conditioning with labels 0 .. num_classes - 1, plus
            the null label ``num_classes``.
        context_dim: enables cross-attention to a (N, L, context_dim) token sequence.
        concat_channels: extra input channels concatenated to x.
        embed_dim: enables conditioning on an (N, embed_dim) embedding vector.
        embed_tokens: how many context tokens the embedding becomes (0: none; needs
            ``context_dim``).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int | None = None,
        channels: int = 64,
        channel_mult: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 2,
        attention_resolutions: Sequence[int] = (16,),
        image_size: int = 32,
        dropout: float = 0.0,
        groups: int = 32,
        head_channels: int = 64,
        emb_dim: int | None = None,
        max_period: float = 10_000.0,
        input_scale: float = 1.0,
        num_classes: int | None = None,
        context_dim: int | None = None,
        concat_channels: int = 0,
        embed_dim: int | None = None,
        embed_tokens: int = 0,
    ) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        emb_dim = 4 * channels if emb_dim is None else emb_dim
        channel_mult = [int(m) for m in channel_mult]
        attention_resolutions = [int(r) for r in attention_resolutions]
        self.config = {
            "type": "unet", "in_channels": in_channels, "out_channels": out_channels, "channels": channels,
            "channel_mult": channel_mult, "num_res_blocks": num_res_blocks,
            "attention_resolutions": attention_resolutions, "image_size": image_size, "dropout": dropout,
            "groups": groups, "head_channels": head_channels, "emb_dim": emb_dim, "max_period": max_period,
            "input_scale": input_scale, "num_classes": num_classes, "context_dim": context_dim,
            "concat_channels": concat_channels,
            # written only when used, so the configs of networks without them stay as they were
            **({"embed_dim": embed_dim, "embed_tokens": embed_tokens} if embed_dim is not None else {}),
        }
        if not channel_mult or min(channel_mult) < 1:
            raise ValueError(f"channel_mult must be a non-empty list of positive integers, got {channel_mult}")
        if num_res_blocks < 1:
            raise ValueError(f"num_res_blocks must be at least 1, got {num_res_blocks}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        widths = sorted({channels * m for m in channel_mult})
        bad = [w for w in widths if w % groups]
        if bad:
            raise ValueError(f"groups={groups} must divide every width channels * channel_mult; {bad[0]} is not divisible")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer or None, got {num_classes}")
        if embed_dim is not None and (isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 1):
            raise ValueError(f"embed_dim must be a positive integer or None, got {embed_dim!r}")
        if embed_tokens and (embed_dim is None or context_dim is None or embed_tokens < 0):
            raise ValueError("embed_tokens needs embed_dim and context_dim (the tokens join the cross-attention context)")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.embed_dim, self.embed_tokens = embed_dim, int(embed_tokens)
        self.concat_channels, self.num_classes, self.context_dim = concat_channels, num_classes, context_dim
        self.channels, self.max_period, self.input_scale = channels, max_period, input_scale

        def heads(ch: int) -> int:
            n = max(1, ch // head_channels)
            if ch % n:
                raise ValueError(f"a {ch}-channel attention layer cannot be split into heads of {head_channels} channels")
            return n

        def attention(ch: int) -> AttentionBlock:
            return AttentionBlock(ch, heads(ch), groups, context_dim)

        self.time_mlp = nn.Sequential(nn.Linear(channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # index num_classes is the null label (classifier-free guidance)
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes is not None else None
        if embed_dim is not None:
            self.embed_proj = nn.Linear(embed_dim, emb_dim)
            self.embed_to_tokens = nn.Linear(embed_dim, embed_tokens * context_dim) if embed_tokens else None

        self.inp = nn.Conv2d(in_channels + concat_channels, channels, 3, padding=1)
        self.down = nn.ModuleList()
        resolution = [int(image_size)]  # of each level: halved, rounding up
        for _ in channel_mult[1:]:
            resolution.append((resolution[-1] + 1) // 2)
        unused = sorted(set(attention_resolutions) - set(resolution))
        if unused:
            raise ValueError(f"attention_resolutions {unused} match no level: with image_size={image_size} "
                             f"the levels have resolutions {resolution}")
        skips = [channels]
        ch = channels
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                block = nn.ModuleList([ResBlock(ch, channels * mult, emb_dim, groups, dropout)])
                ch = channels * mult
                if resolution[level] in attention_resolutions:
                    block.append(attention(ch))
                self.down.append(block)
                skips.append(ch)
            if level < len(channel_mult) - 1:
                self.down.append(nn.ModuleList([Downsample(ch)]))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim, groups, dropout), attention(ch),
                                  ResBlock(ch, ch, emb_dim, groups, dropout)])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                block = nn.ModuleList([ResBlock(ch + skips.pop(), channels * mult, emb_dim, groups, dropout)])
                ch = channels * mult
                if resolution[level] in attention_resolutions:
                    block.append(attention(ch))
                if level > 0 and i == num_res_blocks:
                    block.append(Upsample(ch))
                self.up.append(block)
        self.out = nn.Sequential(nn.GroupNorm(groups, ch), nn.SiLU(), _zero(nn.Conv2d(ch, out_channels, 3, padding=1)))

    # -- conditioning ------------------------------------------------------------------
    def _embedding(self, noise_input: torch.Tensor, n: int, labels) -> torch.Tensor:
        noise_input = torch.as_tensor(noise_input, device=self.inp.weight.device)
        if noise_input.ndim == 0:
            noise_input = noise_input.expand(n)
        if noise_input.shape != (n,):
            raise ValueError(f"noise_input must have shape ({n},), got {tuple(noise_input.shape)}")
        emb = sinusoidal_embedding(noise_input * self.input_scale, self.channels, self.max_period)
        emb = self.time_mlp(emb.to(self.inp.weight.dtype))
        if self.label_emb is None:
            if labels is not None:
                raise ValueError("labels were given but this UNet has no class conditioning (num_classes=None)")
            return emb
        if labels is None:
            labels = torch.full((n,), self.num_classes, dtype=torch.long, device=emb.device)
        labels = torch.as_tensor(labels, device=emb.device)
        if labels.ndim == 0:
            labels = labels.expand(n)
        if labels.shape != (n,) or labels.is_floating_point():
            raise ValueError(f"labels must be integers of shape ({n},), got {labels.dtype} of shape {tuple(labels.shape)}")
        if labels.device.type == "cpu" and (labels.min() < 0 or labels.max() > self.num_classes):
            raise ValueError(f"labels must lie in 0 .. {self.num_classes} ({self.num_classes} = null label), "
                             f"got {labels.min().item()} .. {labels.max().item()}")
        return emb + self.label_emb(labels.long())

    def _check_context(self, context, context_mask, n: int):
        if context is None:
            if context_mask is not None:
                raise ValueError("context_mask was given without context")
            return None, None
        if self.context_dim is None:
            raise ValueError("context was given but this UNet has no cross-attention (context_dim=None)")
        if context.ndim != 3 or context.shape[0] != n or context.shape[2] != self.context_dim:
            raise ValueError(f"context must have shape ({n}, L, {self.context_dim}), got {tuple(context.shape)}")
        if context_mask is not None:
            context_mask = torch.as_tensor(context_mask, device=context.device)
            if context_mask.shape != context.shape[:2]:
                raise ValueError(f"context_mask must have shape {tuple(context.shape[:2])}, got {tuple(context_mask.shape)}")
            context_mask = context_mask.bool()
        return context, context_mask

    def _embed(self, embed, emb: torch.Tensor, context, context_mask, n: int):
        """Add the embedding vector's projection to ``emb`` and its tokens to the context."""
        if self.embed_dim is None:
            if embed is not None:
                raise ValueError("embed was given but this UNet has no embedding conditioning (embed_dim=None)")
            return emb, context, context_mask
        if embed is None:
            embed = torch.zeros(n, self.embed_dim, device=emb.device, dtype=emb.dtype)
        if embed.shape != (n, self.embed_dim):
            raise ValueError(f"embed must have shape ({n}, {self.embed_dim}), got {tuple(embed.shape)}")
        embed = embed.to(self.embed_proj.weight.dtype)
        emb = emb + self.embed_proj(embed)
        if self.embed_to_tokens is not None:
            tokens = self.embed_to_tokens(embed).view(n, self.embed_tokens, self.context_dim)
            if context is None:
                context, context_mask = tokens, None
            else:
                context = torch.cat([context, tokens.to(context.dtype)], dim=1)
                if context_mask is not None:
                    context_mask = torch.cat([context_mask, context_mask.new_ones(n, self.embed_tokens)], dim=1)
        return emb, context, context_mask

    def _input(self, x: torch.Tensor, concat) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if not self.concat_channels:
            if concat is not None:
                raise ValueError("concat was given but this UNet has concat_channels=0")
            return x
        want = (x.shape[0], self.concat_channels, *x.shape[2:])
        if concat is None or tuple(concat.shape) != want:
            got = "nothing" if concat is None else f"shape {tuple(concat.shape)}"
            raise ValueError(f"concat must have shape {want}, got {got}")
        return torch.cat([x, concat.to(x.dtype)], dim=1)

    # -- forward -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, noise_input: torch.Tensor, *, labels=None, context=None,
                context_mask=None, concat=None, embed=None) -> torch.Tensor:
        n = x.shape[0]
        h = self._input(x, concat)
        emb = self._embedding(noise_input, n, labels)
        context, context_mask = self._check_context(context, context_mask, n)
        emb, context, context_mask = self._embed(embed, emb, context, context_mask, n)

        def run(block, h):
            for layer in block:
                if isinstance(layer, ResBlock):
                    h = layer(h, emb)
                elif isinstance(layer, AttentionBlock):
                    h = layer(h, context, context_mask)
                elif isinstance(layer, Upsample):
                    h = layer(h, hs[-1].shape[-2:])
                else:
                    h = layer(h)
            return h

        h = self.inp(h)
        hs = [h]
        for block in self.down:
            h = run(block, h)
            hs.append(h)
        h = run(self.mid, h)
        for block in self.up:
            h = run(block, torch.cat([h, hs.pop()], dim=1))
        return self.out(h).to(x.dtype)

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return f"params={n:,}"

"""The KL-regularised autoencoder of latent diffusion (Rombach et al. 2022, sec. 3 and app. G).

    encode: x (N, C, H, W) -> q(z | x) = N(mean, diag(exp(logvar))),  z (N, 4, H/f, W/f)
    decode: z -> x_hat (N, C, H, W)

A variational autoencoder (Kingma & Welling 2014) whose only job is perceptual
compression: a diffusion model then works on z, f^2 / 4 * C times fewer numbers
(f = 4: a 64x64x3 image is a 16x16x4 latent). Following Rombach et al. (app. G,
the "KL-reg." first stage), the KL term to N(0, I) is weighted very lightly
(they use 1e-6 per image sum) so z keeps almost all the information of x; the
posterior is then nearly a point and its scale is arbitrary, so the diffusion
model sees ``scale_factor * z``, with ``scale_factor = 1 / std(z)`` estimated on
training data after the autoencoder is trained (their sec. 4.3.2; Stable
Diffusion's 0.18215 is this number for its autoencoder). Here it is stored in
the config, never a constant in code.

Architecture (the LDM/VQGAN encoder-decoder of Esser et al. 2021, made small):
``conv_in``, then per resolution level ``num_res_blocks`` residual blocks
(GroupNorm, SiLU, 3x3 conv; Wu & He 2018) and a stride-2 downsampling, a middle
``ResBlock - [self-attention] - ResBlock``, GroupNorm, SiLU and a conv to
``2 * latent_channels`` (mean and log-variance). The decoder mirrors it with
``num_res_blocks + 1`` blocks per level and nearest-neighbour upsampling. The
downsampling factor is ``f = 2 ** (len(channel_mult) - 1)``: (1, 2, 2) gives 4,
(1, 2, 2, 4) gives 8. Image sides must be divisible by f.

A saved autoencoder is a folder (:func:`difflab.io.folders.save_autoencoder`):
``config.json`` (``{"net": <this network's config>, ...}``) + ``model.safetensors``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..tensors import GeneratorLike, randn
from .unet import AttentionBlock, Downsample, Upsample

__all__ = ["AutoencoderKL", "DiagonalGaussian", "autoencoder_from_config"]


class DiagonalGaussian:
    """q(z | x) = N(mean, diag(exp(logvar))), the encoder's posterior (Kingma & Welling 2014, sec. 2.4).

    ``logvar`` is clamped to [-30, 20] as in Rombach et al.'s code, so ``std`` never
    underflows to 0 nor overflows."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor) -> None:
        if mean.shape != logvar.shape:
            raise ValueError(f"mean and logvar must have the same shape, got {tuple(mean.shape)} and {tuple(logvar.shape)}")
        self.mean = mean
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self, generator: GeneratorLike = None) -> torch.Tensor:
        """z = mean + std * eps (the reparameterisation trick, Kingma & Welling 2014 eq. 10).

        ``generator`` as :func:`difflab.tensors.randn`: an int seed or a list of
        generators gives each sample its own noise stream."""
        eps = randn(self.mean.shape, generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per sample, summed over the latent elements (Kingma & Welling 2014, app. B):
        1/2 sum(mean^2 + var - 1 - logvar)."""
        return 0.5 * (self.mean.pow(2) + self.var - 1.0 - self.logvar).flatten(1).sum(1)

    def nll(self, z: torch.Tensor) -> torch.Tensor:
        """-log q(z) per sample, summed over the latent elements."""
        return 0.5 * (math.log(2 * math.pi) + self.logvar + (z - self.mean).pow(2) / self.var).flatten(1).sum(1)


class ResBlock(nn.Module):
    """h + conv(silu(GN(conv(silu(GN(h)))))) with a 1x1 skip when the width changes
    (the LDM/VQGAN autoencoder block; no time embedding, no dropout)."""

    def __init__(self, in_ch: int, out_ch: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = self.conv1(F.silu(self.norm1(h)))
        z = self.conv2(F.silu(self.norm2(z)))
        return self.skip(h) + z


class AutoencoderKL(nn.Module):
    """A KL-regularised convolutional autoencoder (see the module docstring for the papers).

    Args:
        in_channels: image channels C.
        latent_channels: channels of z (4, as Stable Diffusion).
        channels: width of the first level; level l has ``channels * channel_mult[l]``.
        channel_mult: one multiplier per level; ``len - 1`` downsamplings, so the
            factor f is ``2 ** (len(channel_mult) - 1)``.
        num_res_blocks: residual blocks per level in the encoder (one more in the decoder).
        groups: GroupNorm groups; must divide every width.
        mid_attention: a self-attention layer in the middle of encoder and decoder
            (as in LDM); off by default, the small images here do not need it.
        scale_factor: ``1 / std(z)`` on the training data (:meth:`estimate_scale_factor`);
            None until estimated.
    """

    def __init__(
        self,
        in_channels: int = 3,
        latent_channels: int = 4,
        channels: int = 16,
        channel_mult: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 1,
        groups: int = 8,
        mid_attention: bool = False,
        scale_factor: float | None = None,
    ) -> None:
        super().__init__()
        channel_mult = [int(m) for m in channel_mult]
        if not channel_mult or min(channel_mult) < 1:
            raise ValueError(f"channel_mult must be a non-empty list of positive integers, got {channel_mult}")
        if num_res_blocks < 1:
            raise ValueError(f"num_res_blocks must be at least 1, got {num_res_blocks}")
        widths = [channels * m for m in channel_mult]
        bad = [w for w in widths if w % groups]
        if bad:
            raise ValueError(f"groups={groups} must divide every width channels * channel_mult; {bad[0]} is not divisible")
        if scale_factor is not None and not (math.isfinite(scale_factor) and scale_factor > 0):
            raise ValueError(f"scale_factor must be a positive number or None, got {scale_factor}")
        self.config = {
            "type": "autoencoder_kl", "in_channels": in_channels, "latent_channels": latent_channels,
            "channels": channels, "channel_mult": channel_mult, "num_res_blocks": num_res_blocks,
            "groups": groups, "mid_attention": bool(mid_attention),
            "scale_factor": None if scale_factor is None else float(scale_factor),
        }
        self.in_channels, self.latent_channels = in_channels, latent_channels
        self.factor = 2 ** (len(channel_mult) - 1)

        def mid(ch: int) -> nn.ModuleList:
            layers = [ResBlock(ch, ch, groups)]
            if mid_attention:
                layers.append(AttentionBlock(ch, 1, groups))
            layers.append(ResBlock(ch, ch, groups))
            return nn.ModuleList(layers)

        # encoder
        self.enc_in = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.enc_down = nn.ModuleList()
        ch = widths[0]
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                self.enc_down.append(ResBlock(ch, width, groups))
                ch = width
            if level < len(widths) - 1:
                self.enc_down.append(Downsample(ch))
        self.enc_mid = mid(ch)
        self.enc_out = nn.Sequential(nn.GroupNorm(groups, ch), nn.SiLU(), nn.Conv2d(ch, 2 * latent_channels, 3, padding=1))
        # decoder
        self.dec_in = nn.Conv2d(latent_channels, ch, 3, padding=1)
        self.dec_mid = mid(ch)
        self.dec_up = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(num_res_blocks + 1):
                self.dec_up.append(ResBlock(ch, width, groups))
                ch = width
            if level > 0:
                self.dec_up.append(Upsample(ch))
        self.dec_out = nn.Sequential(nn.GroupNorm(groups, ch), nn.SiLU(), nn.Conv2d(ch, in_channels, 3, padding=1))

    # -- the latent scale ---------------------------------------------------------------
    @property
    def scale_factor(self) -> float | None:
        return self.config["scale_factor"]

    @scale_factor.setter
    def scale_factor(self, value: float | None) -> None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"scale_factor must be a positive number or None, got {value}")
        self.config["scale_factor"] = None if value is None else float(value)

    @torch.no_grad()
    def estimate_scale_factor(self, images: torch.Tensor, generator: GeneratorLike = None,
                              batch_size: int = 64) -> float:
        """Set and return ``scale_factor = 1 / std(z)``, z ~ q(z | x) over ``images``
        (Rombach et al. 2022, sec. 4.3.2: "rescale the latents to unit standard
        deviation"; the std is over every latent element, about its mean, as theirs)."""
        if images.ndim != 4 or images.shape[0] < 2:
            raise ValueError(f"estimate_scale_factor needs a batch of at least 2 images (N, C, H, W), "
                             f"got shape {tuple(images.shape)}")
        g = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
        zs = [self.encode(images[i:i + batch_size]).sample(g) for i in range(0, len(images), batch_size)]
        std = torch.cat(zs).double().std().item()
        if not (math.isfinite(std) and std > 0):
            raise FloatingPointError(f"the latents' std is {std}; cannot estimate the scale factor")
        self.scale_factor = 1.0 / std
        return self.scale_factor

    def _scale(self) -> float:
        if self.scale_factor is None:
            raise ValueError("this autoencoder has no scale_factor yet: call estimate_scale_factor(images) "
                             "after training (difflab.train.autoencoder does)")
        return self.scale_factor

    # -- encode / decode ----------------------------------------------------------------
    def _check(self, x: torch.Tensor, channels: int, what: str) -> None:
        if x.ndim != 4 or x.shape[1] != channels:
            raise ValueError(f"{what} must have shape (N, {channels}, H, W), got {tuple(x.shape)}")

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """q(z | x) for images x (N, C, H, W), H and W divisible by the factor f."""
        self._check(x, self.in_channels, "x")
        if x.shape[2] % self.factor or x.shape[3] % self.factor:
            raise ValueError(f"image sides must be divisible by the downsampling factor {self.factor}, "
                             f"got {x.shape[2]}x{x.shape[3]}")
        h = self.enc_in(x)
        for layer in self.enc_down:
            h = layer(h)
        for layer in self.enc_mid:
            h = layer(h)
        mean, logvar = self.enc_out(h).chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x_hat (N, C, f H', f W') for latents z (N, latent_channels, H', W'), unscaled."""
        self._check(z, self.latent_channels, "z")
        h = self.dec_in(z)
        for layer in self.dec_mid:
            h = layer(h)
        for layer in self.dec_up:
            h = layer(h, (2 * h.shape[2], 2 * h.shape[3])) if isinstance(layer, Upsample) else layer(h)
        return self.dec_out(h)

    def forward(self, x: torch.Tensor, generator: GeneratorLike = None) -> tuple[torch.Tensor, DiagonalGaussian]:
        """(x_hat, q(z | x)) with z sampled from q: one training evaluation."""
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator)), posterior

    def encode_latents(self, x: torch.Tensor, generator: GeneratorLike = None, mode: bool = False) -> torch.Tensor:
        """The diffusion model's data: ``scale_factor * z``, z ~ q(z | x) (as Rombach et al.;
        the posterior std is tiny, so this is nearly deterministic); ``mode=True`` takes
        the posterior mean instead (deterministic: for editing an image)."""
        posterior = self.encode(x)
        return self._scale() * (posterior.mode() if mode else posterior.sample(generator))

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Images from scaled latents: ``decode(latents / scale_factor)``."""
        return self.decode(latents / self._scale())

    def latent_shape(self, image_shape: Sequence[int]) -> tuple[int, int, int]:
        """(latent_channels, H / f, W / f) for an image shape (C, H, W)."""
        _, h, w = image_shape
        return (self.latent_channels, h // self.factor, w // self.factor)

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return f"factor={self.factor}, params={n:,}"


def autoencoder_from_config(config: dict) -> AutoencoderKL:
    """Rebuild an :class:`AutoencoderKL` from its ``.config``."""
    config = dict(config)
    kind = config.pop("type", "autoencoder_kl")
    if kind != "autoencoder_kl":
        raise ValueError(f"not an autoencoder config: type {kind!r}, expected 'autoencoder_kl'")
    try:
        return AutoencoderKL(**config)
    except TypeError as e:
        raise ValueError(f"bad autoencoder config: {e}") from None

"""Networks of other libraries behind difflab's network call ``net(x, noise_input, **cond)``.

difflab does not re-implement architectures it did not design: a diffusers ``UNet2DModel``
(the DDPM / DDIM U-Net of Ho et al. 2020 as diffusers builds it) is run by diffusers itself;
this wrapper only adapts the call. The network receives the DDPM table index as its time
input (``Denoiser(..., time_input="index")``), fractional between table entries, exactly
what diffusers' sinusoidal time projection accepts.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DiffusersUNet", "DiffusersConditionUNet", "DiffusersAutoencoder"]


def _timesteps(noise_input, x: torch.Tensor) -> torch.Tensor:
    """The per-sample DDPM index, on ``x``'s device and in its dtype (a scalar is broadcast)."""
    t = torch.as_tensor(noise_input, device=x.device)
    return (t.expand(x.shape[0]) if t.ndim == 0 else t).to(x.dtype)


class DiffusersUNet(nn.Module):
    """A diffusers ``UNet2DModel`` called as a difflab network.

    ``channels``: how many output channels are the prediction. A network that also learns
    its variance (improved DDPM, Nichol & Dhariwal 2021: ``2 C`` outputs, diffusers'
    ``variance_type`` ``learned`` / ``learned_range``) has its mean prediction in the first
    ``C``; difflab's samplers use only that."""

    def __init__(self, unet: nn.Module, channels: int | None = None) -> None:
        super().__init__()
        self.unet = unet
        self.channels = channels

    def forward(self, x: torch.Tensor, noise_input: torch.Tensor) -> torch.Tensor:
        out = self.unet(x, _timesteps(noise_input, x), return_dict=False)[0]
        return out if self.channels is None else out[:, :self.channels]


class DiffusersConditionUNet(nn.Module):
    """A diffusers ``UNet2DConditionModel`` (the latent-diffusion U-Net of Rombach et al. 2022,
    cross-attending to text tokens) called as a difflab network:
    ``net(z, noise_input, context=tokens, context_mask=mask)``. As in diffusers' pipelines,
    the U-Net attends to every token of the padded sequence: the mask is not applied."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet
        self.config = {"type": "diffusers", "class": type(unet).__name__,
                       "context_dim": unet.config.cross_attention_dim}

    def forward(self, x: torch.Tensor, noise_input: torch.Tensor, *, context: torch.Tensor,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.unet(x, _timesteps(noise_input, x), encoder_hidden_states=context.to(x.dtype),
                         return_dict=False)[0]


class DiffusersAutoencoder(nn.Module):
    """A diffusers ``AutoencoderKL`` with difflab's autoencoder interface: the diffusion model
    sees ``scaling_factor * z`` (Rombach et al. 2022, sec. 4.3.2; 0.18215 for Stable Diffusion
    1.x / 2.x), images are in [-1, 1]."""

    def __init__(self, vae: nn.Module, scaling_factor: float) -> None:
        super().__init__()
        self.vae = vae
        self.scale_factor = float(scaling_factor)
        self.in_channels = vae.config.in_channels
        self.latent_channels = vae.config.latent_channels
        self.factor = 2 ** (len(vae.config.block_out_channels) - 1)

    def encode_latents(self, x: torch.Tensor, generator=None, mode: bool = False) -> torch.Tensor:
        """``scaling_factor * z``, z the posterior's mean (``mode``) or a draw from it."""
        dist = self.vae.encode(x, return_dict=False)[0]
        if isinstance(generator, int) and not isinstance(generator, bool):
            generator = torch.Generator(x.device).manual_seed(generator)
        z = dist.mode() if mode else dist.sample(generator)
        return self.scale_factor * z

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents / self.scale_factor, return_dict=False)[0]

    def latent_shape(self, image_shape) -> tuple[int, int, int]:
        _, h, w = image_shape
        return (self.latent_channels, h // self.factor, w // self.factor)

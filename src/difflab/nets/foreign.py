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

__all__ = ["DiffusersUNet"]


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
        t = torch.as_tensor(noise_input, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        out = self.unet(x, t.to(x.dtype) if t.is_floating_point() else t, return_dict=False)[0]
        return out if self.channels is None else out[:, :self.channels]

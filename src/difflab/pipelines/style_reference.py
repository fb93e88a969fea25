"""Style from a reference image, without training: shared attention (StyleAligned, Hertz et al.
2024) in the latent text-to-image pipeline (``generate --style-ref IMAGE --style-weight W``).

At every step the reference image's latent z_ref, noised to the step's level with noise of its
own (x_ref = z_ref + sigma eps_ref, the forward process in the denoiser's coordinates), goes
through the network in the same batch as the images being generated; in every self-attention
layer those images attend to their own tokens and to the reference's, after their queries and
keys are normalised to the reference's statistics (AdaIN), so that features, and with them the
look, are borrowed from the reference while the prompt sets the content through the
cross-attention. ``weight`` multiplies the attention paid to the reference tokens (1: as much
as to one's own; more: a stronger style; ``nets.unet.shared_attention``). The reference is
given the empty prompt, so its own content does not leak through the text.
"""

from __future__ import annotations

import torch

from ..denoiser import DenoiserWrapper
from ..nets.unet import shared_attention

__all__ = ["StyleReference"]


class StyleReference(DenoiserWrapper):
    """``denoiser`` with self-attention shared with the reference latents ``reference``
    ((R, C, h, w), clean, in the denoiser's coordinates); a callable ``(x, sigma, **cond) ->
    x0`` with a ``.schedule``, usable wherever a Denoiser is (under guidance too).

    ``reference_cond``: the references' conditioning (e.g. the empty prompt's, broadcast);
    ``seed``: their noise."""

    def __init__(self, denoiser, reference: torch.Tensor, reference_cond: dict, weight: float = 1.0,
                 seed: int = 0) -> None:
        if reference.ndim != 4 or reference.shape[0] < 1:
            raise ValueError(f"reference must be latents (R, C, h, w), got shape {tuple(reference.shape)}")
        self.denoiser, self.reference, self.weight = denoiser, reference, float(weight)
        self.reference_cond = dict(reference_cond)
        g = torch.Generator().manual_seed(int(seed))
        self.noise = torch.randn(reference.shape, generator=g, dtype=torch.float32).to(reference.device, reference.dtype)
        shared_attention(denoiser.net, reference.shape[0], weight)  # checked now, before any sampling

    def __call__(self, x: torch.Tensor, sigma, **cond) -> torch.Tensor:
        r, n = self.reference.shape[0], x.shape[0]
        sigma = torch.as_tensor(sigma, dtype=torch.float64, device=x.device)
        sigma = sigma.expand(n) if sigma.ndim == 0 else sigma
        level = sigma[:1].expand(r)
        x_ref = self.reference + level.view(-1, 1, 1, 1).to(x.dtype) * self.noise
        batch = {}
        for key, value in cond.items():
            if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == n:
                ref = torch.as_tensor(self.reference_cond[key], dtype=value.dtype, device=value.device)
                batch[key] = torch.cat([ref.broadcast_to((r, *value.shape[1:])), value])
            else:
                batch[key] = value
        with shared_attention(self.denoiser.net, r, self.weight):
            out = self.denoiser(torch.cat([x_ref.to(x.dtype), x]), torch.cat([level, sigma]), **batch)
        return out[r:]

"""What every pipeline shares: where it runs, moving it, compiling its denoiser."""

from __future__ import annotations

import torch

__all__ = ["Pipeline"]


class Pipeline:
    """Base of the pipelines; a subclass has a ``denoiser`` (a :class:`~difflab.Denoiser`)."""

    denoiser: object

    @property
    def device(self) -> torch.device:
        """Where the denoiser's weights are (and so where sampling runs)."""
        from ..samplers import model_device

        return model_device(self.denoiser)

    def to(self, device: str | torch.device):
        """Move the networks to ``device``. Returns ``self``."""
        self.denoiser.net.to(device)
        return self

    def compile(self, *, mode: str | None = None):
        """Sample through ``torch.compile`` of the denoiser's network from now on
        (:meth:`difflab.Denoiser.compile`; eager, with one warning, where this machine
        cannot compile). The first call pays the compilation. Returns ``self``."""
        self.denoiser.compile(mode=mode)
        return self

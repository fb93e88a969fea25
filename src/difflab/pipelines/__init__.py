"""Pipelines: trained parts composed into one generator.

:class:`TextToImagePipeline` is latent text-to-image diffusion (Rombach et al. 2022):
autoencoder + denoiser + text encoder, saved and loaded as one folder;
:mod:`difflab.pipelines.training` trains one on captioned shapes.
"""

from .text_to_image import GenerationInfo, TextToImagePipeline

__all__ = ["TextToImagePipeline", "GenerationInfo"]

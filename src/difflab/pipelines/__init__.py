"""Pipelines: trained parts composed into one generator, with one interface (``load``,
``save``, ``to``, ``__call__``, ``inpaint``, ``img2img``) that the command line, the
evaluation and the web app call.

- :class:`ImagePipeline`: a pixel-space image model, unconditional or class-conditional
  (classifier-free guidance);
- :class:`TextToImagePipeline`: latent text-to-image diffusion (Rombach et al. 2022),
  autoencoder + denoiser + text encoder saved and loaded as one folder
  (:mod:`difflab.pipelines.training` trains one on captioned shapes);
- :class:`UnCLIPPipeline`: unCLIP in the manner of DALL-E 2 (Ramesh et al. 2022): a CLIP-style
  encoder (:class:`CLIPEncoder`), a diffusion prior over its image embeddings and an
  embedding-conditioned decoder; variations, interpolations, text diffs
  (:mod:`difflab.pipelines.unclip_training` trains the parts);
- :class:`SuperResolutionPipeline`: a super-resolution model on images of any size;
- :mod:`difflab.pipelines.editing`: the image side (files, masks, codecs, paste-back) of
  inpainting and image-to-image, shared by the pipelines.
"""

from .clip import CLIPEncoder
from .image import ImagePipeline
from .superres import SuperResolutionPipeline
from .text_to_image import GenerationInfo, TextToImagePipeline
from .unclip import UnCLIPPipeline

__all__ = ["ImagePipeline", "TextToImagePipeline", "SuperResolutionPipeline", "GenerationInfo", "UnCLIPPipeline",
           "CLIPEncoder"]

"""Text encoders for text-to-image diffusion (Rombach et al. 2022, sec. 3.3).

:class:`TextEncoder` is the interface (``encode(prompts) -> TextEmbedding`` with
per-token states, mask and a pooled sentence vector); :func:`text_encoder_from_config`
builds and caches one from its config. Two are built in:

- ``{"type": "minilm"}``: the frozen pretrained all-MiniLM-L6-v2 sentence encoder
  (:mod:`difflab.text.minilm`; the optional extra ``difflab[text]``);
- ``{"type": "hashing"}``: a dependency-free toy (:class:`HashingTextEncoder`).

Importing this package imports neither ``tokenizers`` nor any weights.
"""

from .encoder import (
    TEXT_ENCODERS,
    HashingTextEncoder,
    TextEmbedding,
    TextEncoder,
    check_prompts,
    masked_mean_pool,
    register_text_encoder,
)
from .factory import clear_text_encoder_cache, text_encoder_from_config
from .minilm import MiniLMEncoder

__all__ = [
    "TextEmbedding", "TextEncoder", "HashingTextEncoder", "MiniLMEncoder", "TEXT_ENCODERS",
    "register_text_encoder", "text_encoder_from_config", "clear_text_encoder_cache", "check_prompts",
    "masked_mean_pool",
]

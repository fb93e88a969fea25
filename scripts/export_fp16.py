"""Copy a trained autoencoder folder, text-to-image pipeline folder or weights file (a style
adapter, a learned style: one .safetensors file) with its weights in float16.

    .venv/bin/python scripts/export_fp16.py SOURCE DEST

A pipeline's denoiser is written with its EMA weights (the ones sampling uses) as its weights,
and no optimizer state, as the shipped assets are. A weights file keeps its header metadata
(config, fingerprint). Loading casts the weights back to float32.
Refuses a DEST that exists (nothing is overwritten).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from difflab.io.folders import load_autoencoder, pipeline_task, save_autoencoder


def export(source: Path, dest: Path) -> str:
    if dest.exists():
        raise FileExistsError(f"{dest} exists: give a new folder")
    if source.is_file():
        from safetensors import safe_open

        from difflab.io.weights import load_weights, save_weights

        state = load_weights(source)
        with safe_open(str(source), "pt") as f:
            metadata = f.metadata()
        save_weights(dest, {k: v.half() if v.is_floating_point() else v for k, v in state.items()}, metadata)
        return "weights file"
    if pipeline_task(source) == "text-to-image":
        from difflab.pipelines.text_to_image import TextToImagePipeline

        TextToImagePipeline.load(source, ema=True).save(dest, dtype=torch.float16)
        return "text-to-image pipeline (EMA weights)"
    ae, config = load_autoencoder(source)
    extra = {k: v for k, v in config.items() if k not in ("difflab_version", "task", "net")}
    save_autoencoder(dest, ae, extra, dtype=torch.float16)
    return "autoencoder"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        what = export(Path(sys.argv[1]), Path(sys.argv[2]))
    except (OSError, ValueError) as e:
        sys.exit(f"error: {e}")
    print(f"wrote {what} in float16 to {sys.argv[2]}")

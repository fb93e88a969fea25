"""Declare a text-to-image folder's data scale: sigma_data and the effective dimension of its
training latents (difflab.grids.data_scale_from_samples), written into denoiser/config.json as
``sigma_data`` and ``data_dim``. New folders get them from `difflab train text-to-image`; this
adds them to the folders trained before (the shipped one and the styled one):

    .venv/bin/python docs/measurements/first_step/declare_data_scale.py src/difflab/assets/shapes-t2i
    .venv/bin/python docs/measurements/first_step/declare_data_scale.py src/difflab/assets/shapes-t2i-styles

The latents are the first DATA_SCALE_SAMPLES training scenes (the training stream, in the folder's
training styles) encoded by the trainer's own `latent_cache` (a posterior draw from the training seed).
"""
import json
import sys
import tempfile
from pathlib import Path

import torch

from difflab.grids import data_scale_from_samples
from difflab.io.atomic import write_text_atomic
from difflab.pipelines.text_to_image import TextToImagePipeline
from difflab.pipelines.training import DATA_SCALE_SAMPLES, latent_cache

torch.set_num_threads(2)
folder = Path(sys.argv[1])
pipe = TextToImagePipeline.load(folder)
training = pipe.config.get("training", {})
with tempfile.TemporaryDirectory() as cache:  # the trainer's own encoding, not kept
    latents = latent_cache(Path(cache), pipe.autoencoder, pipe.config["image_size"], DATA_SCALE_SAMPLES,
                           training.get("seed", 0), 2, training.get("styles"))
scale = data_scale_from_samples(latents)
path = folder / "denoiser" / "config.json"
config = json.loads(path.read_text())
config.update(sigma_data=round(scale.sigma_data, 4), data_dim=round(scale.dim, 3))
write_text_atomic(path, json.dumps(config, indent=2) + "\n")
print(f"{folder}: sigma_data {scale.sigma_data:.4f}, data_dim {scale.dim:.3f} ({len(latents)} latents of shape "
      f"{tuple(latents.shape[1:])})")

#!/usr/bin/env python3
"""Draw docs/images/t2i_samples.png: five samples (seeds 0-4) of a text-to-image
pipeline for each of a few prompts, at the pipeline's default settings.

    .venv/bin/python scripts/t2i_samples_figure.py [--model DIR] [--out docs/images/t2i_samples.png]
"""
import argparse

import numpy as np
import torch

from difflab.pipelines.text_to_image import TextToImagePipeline
from difflab.viz.images import save_grid

PROMPTS = ["a red circle to the left of a blue square", "a small green triangle at the top",
           "a large yellow square on a black background", "a purple circle above an orange triangle",
           "a blue triangle on the right", "a cat on a sofa", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="pipeline folder (default: the shipped one)")
    parser.add_argument("--out", default="docs/images/t2i_samples.png")
    args = parser.parse_args()
    pipe = TextToImagePipeline.load(args.model) if args.model else TextToImagePipeline.shipped()
    images = pipe(PROMPTS, n_per_prompt=5, seed=0)
    labels = [p if p else '"" (unconditional)' for p in PROMPTS]
    save_grid(torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2).float() / 255, args.out, ncol=5,
              row_labels=labels, scale=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

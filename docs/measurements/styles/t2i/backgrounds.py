"""Generated images of a styled pipeline, per background: how often the style judge finds the
prompt's style, on the tuning prompts (--prompt-seed 12345), guidance 3, the pipeline's defaults.

    .venv/bin/python docs/measurements/styles/t2i/backgrounds.py PIPELINE [N_PER_KIND] [STYLE]

The prompts leave the background open; the judge's background (the outermost pixel ring's
nearest) is what the pipeline chose. Session 22: 71% of the images are on gray, where the glow
halo was lost by the autoencoder's decoder.
"""
import collections
import sys

import numpy as np
import torch

from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_pixels import as_uint8, background
from difflab.metrics.style_judge import judge_style, style_features
from difflab.pipelines.text_to_image import TextToImagePipeline

torch.set_num_threads(2)
pipe = TextToImagePipeline.load(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
style = sys.argv[3] if len(sys.argv) > 3 else "glow"
rows = collections.defaultdict(list)
for kind in ("single", "pair"):
    prompts = [p for p, _ in eval_prompts(n, kind, 12345, style=style)]
    for img in pipe(prompts, seed=0, output="tensor", guidance=3.0):
        verdict = judge_style(img)
        rows[background(as_uint8(img))[1]].append((verdict == style, style_features(img)["halo"], verdict))
for bg, r in sorted(rows.items()):
    print(f"{bg:6s} {len(r):3d} images, style {np.mean([ok for ok, _, _ in r]):.2f}, "
          f"halo median {np.median([h for _, h, _ in r]):.3f}, judged {collections.Counter(v for *_, v in r).most_common()}")

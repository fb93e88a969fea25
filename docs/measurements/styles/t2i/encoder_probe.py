"""Issue 20: does a style adapter's encoder see the style? A ridge probe (lambda 1, features
standardised on the probe's own 500) fit on 500 held-out references (EVAL_SEED scenes 300,000 + i,
the five trained styles in turn) and scored on 500 others, on (a) the per-channel statistics the
encoder computes and (b) the tokens its head makes of them.

    .venv/bin/python docs/measurements/styles/t2i/encoder_probe.py ADAPTER [ADAPTER ...]
"""
import dataclasses
import sys

import numpy as np
import torch
import torch.nn.functional as F

import difflab.data.shapes as S
from difflab.pipelines.style_adapter import load_style_adapter
from difflab.pipelines.text_to_image import TextToImagePipeline

torch.set_num_threads(2)
pipe = TextToImagePipeline.load("src/difflab/assets/shapes-t2i-styles")
styles = ["flat", "outline", "striped", "pixel", "glow"]
scenes = [S.make_scene(S.EVAL_SEED, 300_000 + i) for i in range(1000)]
y = np.arange(1000) % 5
x = S.to_tensor(np.stack([S.render(dataclasses.replace(sc, style=styles[k]), 64) for sc, k in zip(scenes, y)]))
for f in sys.argv[1:]:
    adapter, _ = load_style_adapter(f, pipe.denoiser.net)
    stats, h = [], x
    with torch.no_grad():
        for conv in adapter.encoder.convs:
            h = F.silu(conv(h))
            stats += [h.mean((2, 3)), (h.var((2, 3), unbiased=False) + 1e-6).sqrt()]
        tokens = adapter.encoder(x).flatten(1)
    for name, t in (("statistics", torch.cat(stats, 1).numpy()), ("tokens", tokens.numpy())):
        t = (t - t[:500].mean(0)) / (t[:500].std(0) + 1e-6)
        a = np.c_[t[:500], np.ones(500)]
        w = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ np.eye(5)[y[:500]])
        pred = (np.c_[t[500:], np.ones(500)] @ w).argmax(1)
        per = " ".join(f"{s} {(pred[y[500:] == k] == k).mean():.2f}" for k, s in enumerate(styles))
        print(f"{f}: {name} ({t.shape[1]}): {(pred == y[500:]).mean():.3f}  {per}")

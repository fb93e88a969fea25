"""An autoencoder's reconstructions judged per rendering style and per background, on scenes of
stream 777 (a tuning stream: neither the training streams nor EVAL_SEED), for choosing a decoder.

    .venv/bin/python docs/measurements/styles/ae_probes/judge_by_background.py FOLDER [N_SCENES] [THREADS]

Session 22: every glow miss of the committed decoder was on a gray background (black 100%,
gray 24%, white 98%), and the styled pipeline draws most of its scenes on gray.
"""
import collections
import dataclasses
import sys

import numpy as np
import torch

from difflab.data.shapes import render, render_batch, to_tensor
from difflab.io.folders import load_autoencoder
from difflab.metrics.shapes_judge import judge_batch
from difflab.metrics.style_judge import judge_style

torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
ae, _ = load_autoencoder(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 150
_, scenes = render_batch(n, 777, 64)
for style in ("flat", "outline", "striped", "dotted", "pixel", "glow"):
    styled = [dataclasses.replace(s, style=style) for s in scenes]
    with torch.no_grad():
        x = to_tensor(np.stack([render(s, 64) for s in styled]))
        rec = ae.decode_latents(ae.encode_latents(x, mode=True)).clamp(-1, 1)
    ok = collections.defaultdict(list)
    for s, r in zip(styled, rec):
        ok[s.background].append(judge_style(r) == style)
    every = [a for v in ok.values() for a in v]
    content = judge_batch(rec, [s.attributes() for s in styled]).get("content")
    print(f"{style:8s} style {np.mean(every):.3f} " + " ".join(f"{b} {np.mean(v):.2f}" for b, v in sorted(ok.items()))
          + f"  content {content:.3f}", flush=True)

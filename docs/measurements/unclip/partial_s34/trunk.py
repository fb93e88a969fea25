"""Issue 19, session 34, tuning range only (60 pairs from TUNING_START + 100, as noise_choice.py): every frame of
an interpolation shares the first steps of one trajectory. The decoder samples the path's midpoint embedding
slerp(z_a, z_b, 1/2) from the noise of seed k (the shipped defaults: unipc, 20 steps, its grid, guidance 3, CLIP
guidance 10) and stops after a fraction `split` of the steps; each frame then continues from that shared state with
its own embedding on the rest of the same grid. Prototype outside the library. One JSON line per split:

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/partial_s34/trunk.py PAIRS SPLIT [SPLIT ...]
"""
import json
import math
import sys
import time

import numpy as np
import torch

from difflab.data.shapes import to_uint8
from difflab.evaluate.unclip import TUNING_START, held_out_scenes
from difflab.pipelines.unclip import UnCLIPPipeline, slerp
from difflab.tensors import randn

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()


@torch.no_grad()
def trunk_path(a, b, frames, split, seed):
    z = pipe.clip.encode_image(torch.cat([pipe.load_images(a), pipe.load_images(b)]))
    path = torch.cat([slerp(z[:1], z[1:], k / (frames - 1)) for k in range(frames)])
    states = {}
    pipe.decode_latents(slerp(z[:1], z[1:], 0.5), None, noise=randn((1, *pipe.latent_shape), seed),
                        callback=lambda d: states.setdefault(d["i"], (d["x"].clone(), float(d["sigma"]))))
    steps = len(states)
    i = round(split * steps)
    if i == 0:  # no shared steps: every frame from the same noise, as the default path
        x, sigma = randn((1, *pipe.latent_shape), seed), None
        tail = [states[j][1] for j in range(steps)] + [0.0]
    else:
        x, sigma = states[i]
        x = x / math.sqrt(1.0 + sigma**2)
        tail = [states[j][1] for j in range(i, steps)] + [0.0]
    out, _ = pipe.decode_latents(path, None, noise=x.expand(frames, *x.shape[1:]), sigmas=tail)
    return pipe._output(pipe.decode(out), "uint8"), path, z


pairs = int(sys.argv[1])
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 100, size=pipe.config["image_size"])
source = to_uint8(images)
for split in (float(v) for v in sys.argv[2:]):
    t0 = time.time()
    mono, ends, path_cos = [], [], []
    for k in range(pairs):
        out, path, z = trunk_path(source[2 * k], source[2 * k + 1], 8, split, k)
        zz = pipe.clip.encode_image(list(out))
        m = (zz @ z[1] - zz @ z[0]).numpy()
        mono.append(bool((np.diff(m) >= 0).all()))
        ends.append(float((zz[0] @ z[0] + zz[-1] @ z[1]) / 2))
        path_cos.append(float((zz * path).sum(-1).mean()))
    print(json.dumps({"split": split, "pairs": pairs, "monotone": round(float(np.mean(mono)), 3),
                      "ends_cosine": round(float(np.mean(ends)), 3), "path_cosine": round(float(np.mean(path_cos)), 3),
                      "s": round(time.time() - t0)}), flush=True)

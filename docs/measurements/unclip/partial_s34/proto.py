"""Issue 19, session 34, tuning range only (pairs from TUNING_START + 100, as guidance_s32/interpolation.py):
interpolation from the sources' latents inverted part of the way (DDIM inversion to the level a fraction
`strength` of the grid's steps up), their slerp per frame, decoded with ddim from there. Prototype outside the
library. One JSON line per setting:

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/partial_s34/proto.py PAIRS STRENGTH:GUIDANCE:CLIPG ...
"""
import json
import sys
import time

import numpy as np
import torch
from scipy.stats import spearmanr

from difflab.data.shapes import to_uint8
from difflab.evaluate.unclip import TUNING_START, held_out_scenes
from difflab.grids import make_grid
from difflab.guidance import ClassifierFreeGuidance
from difflab.pipelines.unclip import UnCLIPPipeline, slerp, slerp_noise
from difflab.tasks.invert import ddim_invert

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()


@torch.no_grad()
def partial(a, b, frames, strength, guidance, clip_guidance, steps=20):
    x = torch.cat([pipe.load_images(a), pipe.load_images(b)])
    z = pipe.clip.encode_image(x)
    sigmas = make_grid(pipe.denoiser.schedule, steps)
    tail = sigmas[steps - round(strength * steps):]
    latents = pipe.autoencoder.encode_latents(x, mode=True)
    model = ClassifierFreeGuidance(pipe.denoiser, guidance, pipe.decoder_null())
    noise = ddim_invert(model, latents, tail, cond=pipe.decoder_cond(z))
    ts = [k / (frames - 1) for k in range(frames)]
    path = torch.cat([slerp(z[:1], z[1:], t) for t in ts])
    start = torch.cat([slerp_noise(noise[:1], noise[1:], t) for t in ts])
    out, _ = pipe.decode_latents(path, None, noise=start, sigmas=tail, sampler="ddim", guidance=guidance,
                                 clip_guidance=clip_guidance)
    return pipe._output(pipe.decode(out), "uint8"), path


pairs = int(sys.argv[1])
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 100, size=pipe.config["image_size"])
source = to_uint8(images)
for spec in sys.argv[2:]:
    strength, guidance, clip_guidance = (float(v) for v in spec.split(":"))
    t0 = time.time()
    mono, rho, ends, step_diff, path_cos = [], [], [], [], []
    for k in range(pairs):
        a, b = source[2 * k], source[2 * k + 1]
        out, path = partial(a, b, 8, strength, guidance, clip_guidance)
        e = pipe.clip.encode_image([a, b])
        zz = pipe.clip.encode_image(list(out))
        m = (zz @ e[1] - zz @ e[0]).numpy()
        mono.append(bool((np.diff(m) >= 0).all()))
        r = spearmanr(np.arange(8), m).correlation
        rho.append(0.0 if np.isnan(r) else float(r))
        ends.append(float((zz[0] @ e[0] + zz[-1] @ e[1]) / 2))
        path_cos.append(float((zz * path).sum(-1).mean()))
        o = out.astype(np.float32)
        step_diff.append(float(np.abs(np.diff(o, axis=0)).mean()))
    print(json.dumps({"strength": strength, "guidance": guidance, "clip_guidance": clip_guidance, "pairs": pairs,
                      "monotone": round(float(np.mean(mono)), 3), "spearman": round(float(np.mean(rho)), 3),
                      "ends_cosine": round(float(np.mean(ends)), 3), "path_cosine": round(float(np.mean(path_cos)), 3),
                      "frame_step_diff": round(float(np.mean(step_diff)), 2), "s": round(time.time() - t0)}), flush=True)

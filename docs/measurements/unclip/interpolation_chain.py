"""Tuning range (pairs of held-out scenes from 51,000, never reported): interpolation frames as a chain of SDEdit
edits (Meng et al. 2022): frame 0 is the decoder's image of z_0; frame k is frame k-1's latent noised to strength S
and denoised toward slerp(z_a, z_b, k / 7), so that each frame is a small edit of the one before. Monotone share of
the re-encoded margin cos(frame, B) - cos(frame, A), as eval-unclip counts it, and how close the last frame comes to B.

    .venv/bin/python docs/measurements/unclip/interpolation_chain.py S1,S2,...
"""
import json, sys, time
import numpy as np, torch
from scipy.stats import spearmanr
from difflab.pipelines.unclip import UnCLIPPipeline, slerp
from difflab.evaluate.unclip import held_out_scenes, TUNING_START
from difflab.data.shapes import to_uint8
from difflab.guidance import ClassifierFreeGuidance
from difflab.tasks.img2img import img2img
from difflab.tensors import randn

torch.set_num_threads(1)
pipe = UnCLIPPipeline.shipped()
d = pipe.config["defaults"]
model = ClassifierFreeGuidance(pipe.denoiser, d["guidance"], pipe.decoder_null())
pairs, frames = 20, 8
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 1000, size=pipe.config["image_size"])
source = to_uint8(images)
for strength in [float(s) for s in sys.argv[1].split(",")]:
    t0 = time.time(); mono, rho, last = [], [], []
    for p in range(pairs):
        a, b = source[2 * p], source[2 * p + 1]
        ends = pipe.clip.encode_image([a, b])
        path = torch.cat([slerp(ends[:1], ends[1:], t / (frames - 1)) for t in range(frames)])
        with torch.no_grad():
            z, _ = pipe.decode_latents(path[:1], None, noise=randn((1, *pipe.latent_shape), p), seed=p)
            latents = [z]
            for k in range(1, frames):
                z = img2img(model, z, strength, "ddim", d["steps"], generator=1000 * p + k, cond=pipe.decoder_cond(path[k:k + 1]))
                latents.append(z)
            imgs = to_uint8(pipe.decode(torch.cat(latents)))
        e = pipe.clip.encode_image(list(imgs))
        m = (e @ ends[1] - e @ ends[0]).cpu().numpy()
        mono.append(bool((np.diff(m) >= 0).all())); rho.append(float(spearmanr(np.arange(frames), m).correlation))
        last.append(float(e[-1] @ ends[1]))
    print(json.dumps({"strength": strength, "monotone": float(np.mean(mono)), "spearman": round(float(np.mean(rho)), 3),
                      "last_frame_cos_B": round(float(np.mean(last)), 3), "s": round(time.time() - t0)}), flush=True)

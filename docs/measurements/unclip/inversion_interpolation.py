"""Tuning range (held-out scenes 50,000 on, never reported): interpolations with fixed or inverted noise.

    .venv/bin/python docs/measurements/unclip/inversion_interpolation.py PAIRS CONFIGS_JSON
"""
import json, sys, time
import numpy as np, torch
from scipy.stats import spearmanr
from difflab.pipelines.unclip import UnCLIPPipeline, slerp
from difflab.evaluate.unclip import held_out_scenes, TUNING_START
from difflab.data.shapes import to_uint8
torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
pairs = int(sys.argv[1]); frames = 8
cfgs = json.loads(sys.argv[2])
scenes, images = held_out_scenes(2 * pairs, TUNING_START, size=pipe.config["image_size"])
source = to_uint8(images)
for cfg in cfgs:
    t0 = time.time(); mono, rho, endsim, mono_tol = [], [], [], []
    for k in range(pairs):
        a, b = source[2 * k], source[2 * k + 1]
        if cfg.get("invert") and cfg.get("mode") == "lerp":  # a straight line between the inverted noises
            g = cfg.get("guidance", 1.0); steps = cfg.get("steps", 20)
            z = pipe.clip.encode_image([a, b])
            na, sig = pipe.invert(a, steps=steps, guidance=g, embedding=z[:1])
            nb, _ = pipe.invert(b, steps=steps, guidance=g, embedding=z[1:])
            ts = [t / (frames - 1) for t in range(frames)]
            path = torch.cat([slerp(z[:1], z[1:], t) for t in ts])
            noise = torch.cat([(1 - t) * na + t * nb for t in ts])
            lat, _ = pipe.decode_latents(path, None, noise=noise, sampler="ddim", sigmas=sig, guidance=g)
            out = to_uint8(pipe.decode(lat))
        elif cfg.get("invert"):  # the pipeline's: slerp_noise between the inverted noises
            out, path = pipe.interpolate(a, b, frames, seed=k, invert=True, pacing=1,
                                         **{k2: v for k2, v in cfg.items() if k2 in ("steps", "guidance")})
        else:
            out, path = pipe.interpolate(a, b, frames, seed=k, candidates=1, pacing=1, **{k2: v for k2, v in cfg.items() if k2 != "show"})
        ends = pipe.clip.encode_image([a, b])
        zz = pipe.clip.encode_image(list(out))
        m = (zz @ ends[1] - zz @ ends[0]).cpu().numpy()
        mono.append(bool((np.diff(m) >= 0).all()))
        mono_tol.append(bool((np.diff(m) >= -0.01).all()))
        rho.append(float(spearmanr(np.arange(frames), m).correlation))
        endsim.append(float((zz[0] @ ends[0] + zz[-1] @ ends[1]) / 2))
        if cfg.get("show"): print(np.round(m, 3).tolist())
    print(json.dumps({"cfg": cfg, "mono": np.mean(mono), "mono_tol.01": np.mean(mono_tol), "rho": round(np.mean(rho), 3),
                      "endsim": round(np.mean(endsim), 3), "s": round(time.time() - t0)}), flush=True)

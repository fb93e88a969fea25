"""Issue 19, session 29: variations under CLIP guidance (prototype), on the tuning range (held-out scenes 50,000 on).

D'(x; sigma) = D(x; sigma) + s sigma^2 grad_x cos(f(dec(D(x; sigma))), z)   (classifier guidance, Dhariwal & Nichol 2021,
with p(z | x_t) read at the denoised estimate, Chung et al. 2023; CLIP guidance, Nichol et al. 2022 sec. 2.3)

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/clip_guidance/proto.py PIPELINE N SCALE [JACOBIAN]
"""
import json, sys, time
import numpy as np, torch
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.guidance import ClassifierFreeGuidance
from difflab.evaluate.unclip import held_out_scenes, TUNING_START, _objects
from difflab.metrics.shapes_judge import judge
from difflab.data.shapes import to_uint8
import difflab.pipelines.unclip as U

torch.set_num_threads(2)
pipe = UnCLIPPipeline.load(sys.argv[1])
n, scale = int(sys.argv[2]), float(sys.argv[3])
jac = (sys.argv[4] if len(sys.argv) > 4 else "full")
max_sigma = float(sys.argv[5]) if len(sys.argv) > 5 else float("inf")


class CLIPGuided(ClassifierFreeGuidance):
    def __call__(self, x, sigma, **cond):
        target = self.target
        sig = torch.as_tensor(sigma, dtype=torch.float32).expand(x.shape[0]).reshape(-1, 1, 1, 1)
        if scale == 0 or float(sig.max()) > max_sigma:
            return super().__call__(x, sigma, **cond)
        with torch.enable_grad():
            if jac in ("full", "tempered"):
                x = x.detach().requires_grad_(True)
                d = super().__call__(x, sigma, **cond)
                src = x
            else:
                d = super().__call__(x, sigma, **cond).detach().requires_grad_(True)
                src = d
            img = pipe.autoencoder.decode_latents(d).clamp(-1, 1)
            e = torch.nn.functional.normalize(pipe.clip.net.encode_image(img), dim=-1)
            cos = (e * target).sum()
            g, = torch.autograd.grad(cos, src)
        if jac == "tempered":  # the likelihood at the denoised estimate tempered by its variance: weight sigma^2 / (1 + sigma^2)
            return (d + scale * (sig ** 2 / (1 + sig ** 2)).to(d.dtype) * g).detach()
        return (d + scale * sig.to(d.dtype) ** 2 * g).detach() if jac == "full" else (d + scale * g).detach()


scenes, images = held_out_scenes(n, TUNING_START, size=pipe.config["image_size"])
objects = [_objects(s) for s in scenes]
counts = np.array([len(o.objects) for o in objects])
source = to_uint8(images)
t0 = time.time()
varied = []
orig = U.UnCLIPPipeline.decode_latents


def decode_latents(self, embeddings, prompts=None, **kw):  # every decoding guided towards its own embeddings
    CLIPGuided.target = torch.nn.functional.normalize(embeddings.float(), dim=-1)
    G.ClassifierFreeGuidance = CLIPGuided
    try:
        return orig(self, embeddings, prompts, **kw)
    finally:
        G.ClassifierFreeGuidance = base


import difflab.guidance as G
base = G.ClassifierFreeGuidance
U.UnCLIPPipeline.decode_latents = decode_latents
for i in range(n):
    varied.extend(pipe.variations(source[i], 2, candidates=1, seed=i * 2, clip_guidance=0.0))  # the proto's guidance alone
judged = [judge(v, o) for v, o in zip(varied, [o for o in objects for _ in range(2)])]
kept = np.array([j["all"] for j in judged])
emb = pipe.clip.encode_image(pipe.load_images(list(np.stack(varied))))
src_emb = pipe.clip.encode_image(pipe.load_images(list(source))).repeat_interleave(2, 0)
diff = float(np.abs(np.stack(varied).astype(float) - np.repeat(source, 2, 0).astype(float)).mean())
by_count = {int(c): round(float(kept[np.repeat(counts, 2) == c].mean()), 3) for c in sorted(set(counts))}
pairs = int(sys.argv[6]) if len(sys.argv) > 6 else 0
if pairs:
    from difflab.evaluate.unclip import evaluate_interpolation
    interpolation = evaluate_interpolation(pipe, pairs, 8, start=TUNING_START + n, clip_guidance=0.0,
                                           candidates=1, pacing=1)
print(json.dumps({**({"monotone": interpolation["monotone"], "spearman": round(interpolation["spearman"], 3)} if pairs else {}),
                  "scale": scale, "jacobian": jac, "max_sigma": max_sigma, "kept": round(float(kept.mean()), 3),
                  **{a: round(float(np.mean([j[a] for j in judged if a in j])), 3) for a in ("colour", "shape", "count")},
                  "kept_by_objects": by_count, "cos_to_source": round(float((emb * src_emb).sum(1).mean()), 4),
                  "pixel_diff": round(diff, 2), "s": round(time.time() - t0)}), flush=True)

"""Backgrounds of the shipped unCLIP pipeline (prior, then decoder), per decoder grid and guidance: does the
first-step gray bias of the text-to-image model show here too? 50 single-object and 50 two-object tuning prompts
(--prompt-seed 12345), seed 0. Session 23: no (backgrounds_unclip_s23.txt)."""
import collections, torch
from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_pixels import as_uint8, background
from difflab.grids import tuned_grid
from difflab.pipelines.unclip import UnCLIPPipeline
torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
print(pipe.latent_shape, flush=True)
prompts = [p for kind in ("single", "pair") for p, _ in eval_prompts(50, kind, 12345)]
sch = pipe.denoiser.schedule
for label, kw in (("default", {}), ("trailing", {"spacing": "trailing"}), ("top 24", {"sigmas": tuned_grid(float(sch.ve_sigma_max), 20, float(sch.ve_sigma_min), 1.0, 36.0, 36.0)})):
    for g in (1.0, 3.0):
        imgs = pipe(prompts, seed=0, output="tensor", guidance=g, **kw)
        c = collections.Counter(background(as_uint8(x))[1] for x in imgs)
        print(label, g, {k: c[k] for k in ("black", "gray", "white")}, flush=True)

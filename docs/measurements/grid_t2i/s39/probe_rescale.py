"""Issue 17, session 39: probe_gap_by_guidance.txt found the 10- vs 20-step gap made by guidance (guidance 1: 10 steps
miss 37.4, 20 steps 40.25; guidance 2: 20.75 / 18.9; guidance 3: 20.4 / 17.75). Does guidance rescale (Lin et al.
2024, sec. 3.4: the guided noise prediction rescaled to the conditional one's standard deviation, mixed by phi, as
diffusers' guidance_rescale) narrow it? Scored as `tune-grid --against faithfulness` scores (800 calibration prompts,
noise seeds 200000+, unipc, the pipeline's default grids, guidance 3). Tuning side only: nothing reported.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s39/probe_rescale.py > docs/measurements/grid_t2i/s39/probe_rescale.txt
"""
import json
import time

import torch

from difflab.evaluate.text_to_image import faithfulness_objective
from difflab.guidance import ClassifierFreeGuidance
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
from difflab.samplers import sample
from difflab.tensors import randn

N, SEED = 800, 200000
pipe = TextToImagePipeline.load(shipped_model_path())
guided, shape, cond = pipe.calibration(N, guidance=3.0)
score = faithfulness_objective(pipe, N)


class Rescaled(ClassifierFreeGuidance):
    def __init__(self, cfg, phi):
        super().__init__(cfg.denoiser, cfg.scale, cfg.null_cond)
        self.phi = phi
        self.grids = getattr(cfg, "grids", None) or getattr(cfg.denoiser, "grids", None)

    def __call__(self, x, sigma, **c):
        d_g = super().__call__(x, sigma, **c)
        d_c = self.denoiser(x, sigma, **c)  # (an extra call: a probe, not a cost measurement)
        s = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
        e_g, e_c = (x - d_g) / s, (x - d_c) / s
        dims = tuple(range(1, x.ndim))
        ratio = e_c.std(dim=dims, keepdim=True) / e_g.std(dim=dims, keepdim=True)
        e = self.phi * e_g * ratio + (1 - self.phi) * e_g
        return x - s * e


for phi, steps in ((0.0, 10), (0.7, 10), (0.7, 20)):  # phi 0 the control: 20.375 if the wrapper is right
    model = Rescaled(guided, phi)
    t0 = time.time()
    with torch.no_grad():
        x = sample(model, randn(shape, SEED), "unipc", steps, cond=cond)
    print(json.dumps({"guidance": 3.0, "rescale_phi": phi, "steps": steps, "judge_misses": round(score(x), 3),
                      "seconds": round(time.time() - t0, 1)}), flush=True)

"""What the issue-17 probes of the shipped text-to-image model's 10 steps share (sessions 38 and 39): the pipeline,
the calibration batch that `tune-grid --against faithfulness` scores (800 calibration prompts, noise seeds 200000+,
guidance 3 unless a probe varies it), that score (the judge's misses in percent), the stored 10-step grid, and one
scored run as one line of output. A probe in a session's folder reads it with
``sys.path.insert(0, str(Path(__file__).parents[1]))``. Tuning side only: nothing a probe prints is reported.
"""
import json
import time

import torch

from difflab.evaluate.text_to_image import faithfulness_objective
from difflab.pipelines.text_to_image import CALIBRATION_SEED, TextToImagePipeline, shipped_model_path
from difflab.samplers import sample
from difflab.tensors import randn

N, SEED = 800, 200000
#: the shipped pipeline's stored 10-step UniPC grid (its denoiser's grids.json), to four decimals
STORED = [20291.1696, 23.3076, 7.9308, 4.5077, 2.8752, 1.7015, 1.1106, 0.5821, 0.484, 0.0944, 0.0]
#: the sigma_data the stored grid was optimized with (its options)
SIGMA_DATA = 1.0103
pipe = TextToImagePipeline.load(shipped_model_path())


def calibration(guidance: float = 3.0, prompt_seed: int = CALIBRATION_SEED, noise_seed: int = SEED):
    """(guided model, cond, noise, score) of the N prompts of stream ``prompt_seed`` and noise seeds ``noise_seed`` on."""
    model, shape, cond = pipe.calibration(N, guidance=guidance, prompt_seed=prompt_seed)
    return model, cond, randn(shape, noise_seed), faithfulness_objective(pipe, N, prompt_seed=prompt_seed)


def scored(model, cond, noise, score, sampler: str = "unipc", steps: int | None = None, sigmas=None,
           key: str = "judge_misses", **options) -> tuple[float, dict]:
    """Run ``sampler`` (on ``sigmas`` where given, its steps then implied) and score the samples: (score, run info
    with ``seconds`` of sampling and judging). Stochastic samplers draw their step noise from seeds SEED on."""
    t0 = time.time()
    if sigmas is not None:
        steps, options["sigmas"] = len(sigmas) - 1, torch.tensor(sigmas, dtype=torch.float64)
    with torch.no_grad():
        x, info = sample(model, noise, sampler, steps, cond=cond, generator=SEED, return_info=True, **options)
    value = round(score(x), 3)
    return value, {"nfe": info.nfe, "sigmas": [round(float(s), 4) for s in info.sigmas], key: value,
                   "seconds": round(time.time() - t0, 1)}


def line(fields: dict, run: dict, *keys: str) -> None:
    """Print ``fields``, then the ``keys`` of ``run`` (and always its score and seconds), as one JSON line."""
    shown = {k: run[k] for k in keys}
    shown.update({k: v for k, v in run.items() if k.endswith("_misses") or k == "seconds"})
    print(json.dumps({**fields, **shown}), flush=True)


def ordered(name: str, g: list, steps: int | None = 10) -> list:
    """``g``, checked to be a decreasing grid ending at 0 (of ``steps`` steps where given)."""
    assert all(a > b for a, b in zip(g, g[1:])) and g[-1] == 0 and (steps is None or len(g) == steps + 1), (name, g)
    return g

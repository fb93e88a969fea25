"""Issue 17, session 26 (prototype, not in the library): tune-grid's search for the shipped text-to-image model's
10-step unipc grid with its distance measured in decoded pixels and aggregated over the calibration batch by the
median (VARIANT pix-med) or the geometric mean floored at uint8 quantization noise (pix-geo), from the rule's grid,
64 calibration prompts, guidance 3, 4 sweeps. DEST is a copy of the shipped folder whose grids.json is replaced.
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s26/tune_proto.py pix-med runs/s26/t2i_pixmed 64 4
Output: tune_proto.txt; the grids' faithfulness: paired_tuning_n400.txt (pixmed10, pixgeo10)."""
import math, shutil, sys
from pathlib import Path
import torch
import difflab.samplers.optimize as opt
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
from difflab.io.folders import save_grids

torch.set_num_threads(2)
variant, dest, n, sweeps = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if not dest.exists():
    shutil.copytree(shipped_model_path(), dest)
    (dest / "denoiser" / "grids.json").unlink()
pipe = TextToImagePipeline.load(dest)
space, stat = variant.split("-")

def distance(x, ref):
    if space == "pix":
        x, ref = pipe.decode(x.float()), pipe.decode(ref.float())
    d = ((x - ref).to(torch.float64) ** 2).flatten(1).mean(1)
    if stat == "geo":  # geometric mean over the batch, floored at uint8 quantization noise ((2/255)^2 / 12)
        e = float(torch.exp(torch.log(d + (2 / 255) ** 2 / 12).mean()))
    else:
        e = float(d.median() if stat == "med" else d.mean())
    return e if math.isfinite(e) else math.inf

opt._distance = distance
model, shape, cond = pipe.calibration(n, guidance=3.0)
res = opt.optimize_grid(model, shape, "unipc", 10, cond=cond, seed=0, sweeps=sweeps,
                        progress=lambda s, e: print(f"sweep {s + 1}: {e:.5g}", flush=True))
entry = {**res.to_json(), "calibration": {"n": n, "seed": 0, "guidance": 3.0, "objective": variant}}
save_grids(dest / "denoiser", {("unipc", 10): entry})
print(variant, res.start_error, "->", res.error, res.nfe, "evals", round(res.seconds), "s", [round(v, 4) for v in res.sigmas.tolist()])

"""Issue 17, session 26: where the shipped text-to-image model's purple/blue decision is made. Tuning prompts
(--prompt-seed 12345) naming a purple or blue object (200, 99 purple), guidance 3, unipc; grids: the 20-step rule,
the stored 10-step grid, the 20-step grid with every other level dropped in one band, and hybrids (one grid's
levels above a cut, the other's below). Run: PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s26/purple.py"""
import numpy as np, torch
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_judge import detect, judge
from difflab.grids import tuned_grid
from difflab.data.shapes import to_uint8
torch.set_num_threads(2)
pipe = TextToImagePipeline.load(shipped_model_path())
items = [it for it in eval_prompts(1200, "single", 12345) if it[1].objects[0].colour in ("purple", "blue")][:200]
prompts = [p for p, _ in items]
print(len(items), "prompts", sum(a.objects[0].colour == "purple" for _, a in items), "purple")
g20 = tuned_grid(20291.1696, 20, 0.0, 1.0103, 1.924, 256).tolist()
inner = g20[1:-1]
def thin(lo, hi):  # drop every other level of the 20-step grid within [lo, hi]
    keep, k = [], 0
    for v in inner:
        if lo <= v <= hi:
            k += 1
            if k % 2 == 0: continue
        keep.append(v)
    return [g20[0]] + keep + [0.0]
stored = [20291.169610019904, 23.307612947039033, 7.930779678707237, 4.507736477972885, 2.8752398914077086, 1.7015403234792408, 1.1106376657695265, 0.5820552204971658, 0.4840018227449987, 0.09439034716061269, 0.0]
def hybrid(upper, lower, cut):
    return [v for v in upper[:-1] if v > cut] + [v for v in lower[1:] if v <= cut]
configs = {"g20": g20, "stored10": stored, "thin_high(2-30)": thin(2, 30), "thin_mid(0.3-2)": thin(0.3, 2), "thin_low(0-0.3)": thin(0, 0.3),
           "stored_hi+g20_lo(2)": hybrid(stored, g20, 2.0), "stored_hi+g20_lo(0.5)": hybrid(stored, g20, 0.5),
           "g20_hi+stored_lo(2)": hybrid(g20, stored, 2.0), "g20_hi+stored_lo(0.5)": hybrid(g20, stored, 0.5)}
for name, s in configs.items():
    z = pipe.latents(prompts, seed=0, guidance=3.0, sigmas=torch.tensor(s, dtype=torch.float64))[0]
    x = to_uint8(pipe.decode(z))
    acc = np.mean([judge(x[i], a)["all"] for i, (_, a) in enumerate(items)])
    col = np.mean([any(d.colour == a.objects[0].colour for d in detect(x[i])[1]) for i, (_, a) in enumerate(items)])
    print(f"{name:18s} steps {len(s) - 1:2d} all {acc:.3f} colour found {col:.3f}", flush=True)

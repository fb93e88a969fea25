"""Issue 17, session 26. Paired faithfulness of sampling settings on one prompt split: per-image verdicts of the
shapes judge (all attributes right) and the latent distance to the first setting, same prompts and seeds (seed i for
prompt i of each kind, as eval-t2i). Results are cached in OUT.npz (a setting already there is skipped).
    PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s26/paired.py '{"ref50": {"steps": 50}, "s20": {"steps": 20},
        "s10": {"steps": 10}, "s10rule": {"steps": 10, "spacing": "tuned"}, "s10o3": {"steps": 10, "order": 3},
        "s10dpm": {"steps": 10, "sampler": "dpmpp-2m", "spacing": "tuned"}}' 400 12345 runs/s26/tune400 [PIPELINE]
Output: paired_tuning_n400.txt (tuning prompts, --prompt-seed 12345)."""
import json, sys, time
import numpy as np, torch
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_judge import judge

torch.set_num_threads(2)
configs = json.loads(sys.argv[1])          # {name: sampling kwargs}; "sigmas" lists become tensors
n, prompt_seed, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
model = sys.argv[5] if len(sys.argv) > 5 else None
pipe = TextToImagePipeline.load(model or shipped_model_path())
kinds = {k: eval_prompts(n, k, prompt_seed) for k in ("single", "pair")}
res = {}
try:
    res = dict(np.load(out + ".npz", allow_pickle=True))
except FileNotFoundError:
    pass
for name, kw in configs.items():
    if name + "_all" in res:
        continue
    kw = {k: (torch.tensor(v, dtype=torch.float64) if k == "sigmas" else v) for k, v in kw.items()}
    t0 = time.time(); verdicts, lat = [], []
    for kind, items in kinds.items():
        prompts = [p for p, _ in items]
        for i in range(0, n, 100):
            z, info = pipe.latents(prompts[i:i + 100], seed=i, guidance=3.0, **kw)
            x = pipe.decode(z)
            lat.append(z.numpy())
            verdicts += [judge(x[j], a)["all"] for j, (_, a) in enumerate(items[i:i + 100])]
    res[name + "_all"] = np.array(verdicts); res[name + "_z"] = np.concatenate(lat)
    np.savez(out + ".npz", **res)
    print(f"{name}: {time.time() - t0:.0f} s", flush=True)
names = [k[:-4] for k in res if k.endswith("_all")]
ref = names[0]
for name in names:
    v = res[name + "_all"]; r = res[ref + "_all"]
    d = ((res[name + "_z"] - res[ref + "_z"]) ** 2).mean()
    print(f"{name:12s} single {100 * v[:n].mean():5.1f}  pair {100 * v[n:].mean():5.1f}  "
          f"flips vs {ref}: single {int((v[:n] != r[:n]).sum()):3d} pair {int((v[n:] != r[n:]).sum()):3d}  mse {d:.4f}")

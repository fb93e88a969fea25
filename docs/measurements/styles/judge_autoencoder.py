"""Judge an autoencoder folder's reconstructions per style on held-out scenes (style judge + content judge).

    .venv/bin/python docs/measurements/styles/judge_autoencoder.py FOLDER [N_SCENES] [THREADS]
"""
import dataclasses, sys, json
import numpy as np, torch
from difflab.io.folders import load_autoencoder
from difflab.data.shapes import to_tensor, render, EVAL_SEED, render_batch
from difflab.metrics.style_judge import judge_styles
from difflab.metrics.shapes_judge import judge_batch
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
folder, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 60
ae, cfg = load_autoencoder(folder)
_, scenes = render_batch(n, EVAL_SEED, 64)
out = {}
for style in ("flat", "outline", "striped", "dotted", "pixel", "glow"):
    styled = [dataclasses.replace(s, style=style) for s in scenes]
    with torch.no_grad():
        x = to_tensor(np.stack([render(s, 64) for s in styled]))
        rec = ae.decode_latents(ae.encode_latents(x, mode=True)).clamp(-1, 1)
    mae = float((rec - x).abs().mean() * 127.5)
    out[style] = {"style": judge_styles(rec, [style] * n)["style"],
                  "content": judge_batch(rec, [s.attributes() for s in styled]).get("content"), "mae": round(mae, 2)}
    print(style, out[style], flush=True)
print(json.dumps({"psnr": cfg.get("training", {}).get("psnr"), "steps": cfg.get("training", {}).get("steps_done")}))

"""Issue 20, session 28: a learned style as the style adapter's tokens, inverted from the examples.

Textual inversion (Gal et al. 2023) in the style adapter's token space: instead of the adapter's
encoder reading a reference, its T tokens are fitted directly to K example images by the
pipeline's own denoising loss (network, adapter projections and encoders frozen), at the noise
levels where a reference acts (sigma <= REFERENCE_STYLE_SIGMA). Sampling then uses the fitted
tokens as a reference's. Judged on prompts of seed PROMPT_SEED (7: tuning) as learned_style.py.

    PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/learned_s28/tokens.py STYLE K STEPS N PROMPT_SEED \
        [--lr 0.01] [--init mean|zero] [--sigma S] [--weight W] [--out FILE.json]
"""
import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

import difflab.data.shapes as S
from difflab.metrics.shapes_judge import judge_batch
from difflab.pipelines.style_adapter import adapted, load_style_adapter
from difflab.pipelines.style_adapter_training import LateTimes
from difflab.pipelines.text_to_image import REFERENCE_STYLE_SIGMA, TextToImagePipeline
from difflab.train.loop import DenoisingLoss

parser = argparse.ArgumentParser()
for name, kind in (("style", str), ("k", int), ("steps", int), ("n", int), ("prompt_seed", int)):
    parser.add_argument(name, type=kind)
parser.add_argument("--model", default="src/difflab/assets/shapes-t2i-styles")
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--init", default="mean", choices=["mean", "zero"])
parser.add_argument("--sigma", type=float, default=REFERENCE_STYLE_SIGMA, help="train and act at sigma <= S")
parser.add_argument("--weight", type=float, default=1.0, help="the style weight at sampling")
parser.add_argument("--out", default=None)
args = parser.parse_args()
torch.set_num_threads(2)
torch.manual_seed(0)

pipe = TextToImagePipeline.load(args.model)
adapter, _ = load_style_adapter(pipe.style_adapter, pipe.denoiser.net)
pipe.style_adapter = adapter
adapter.requires_grad_(False)
pipe.denoiser.net.requires_grad_(False)
scenes = [S.make_scene(S.TRAIN_SEED, 900_000 + i) for i in range(args.k)]
pixels = torch.stack([S.to_tensor(S.render(dataclasses.replace(s, style=args.style), 64)[None])[0] for s in scenes])
with torch.no_grad():
    latents = pipe.autoencoder.encode_latents(pixels, mode=True)
    cond = pipe.encode_prompts([s.caption for s in scenes])
    read = adapter.encode(pixels)  # (K, T, D): the encoder's reading of each example
tokens = torch.nn.Parameter(read.mean(0, keepdim=True).clone() if args.init == "mean" else torch.zeros_like(read[:1]))
model = adapted(pipe.denoiser, adapter)
loss = LateTimes(DenoisingLoss(model), args.sigma)
opt = torch.optim.Adam([tokens], lr=args.lr)
g = torch.Generator().manual_seed(0)
t0 = time.time()
for step in range(args.steps):
    index = torch.randint(0, args.k, (8,), generator=g)
    c = {k: v[index] for k, v in cond.items()}
    c, noise = loss.draw(latents[index], c, g)
    c["style_tokens"] = tokens.expand(len(index), -1, -1)
    value = loss(model.net, latents[index], c, noise)
    opt.zero_grad()
    value.backward()
    opt.step()
    if step % 100 == 0 or step == args.steps - 1:
        print(f"step {step} loss {value.item():.4f} |tokens| {tokens.norm().item():.2f}", flush=True)
train_s = time.time() - t0
print(f"fitted {tokens.numel()} numbers in {train_s:.0f} s", flush=True)
adapter.encode = lambda image: tokens.detach().expand(image.shape[0], -1, -1)
report = {"style": args.style, "k": args.k, "steps": args.steps, "lr": args.lr, "init": args.init,
          "sigma": args.sigma, "weight": args.weight, "train_s": round(train_s, 1), "prompt_seed": args.prompt_seed}
reference = S.render(dataclasses.replace(scenes[0], style=args.style), 64)
for kind in ("single", "pair"):
    items = S.eval_prompts(args.n, kind, args.prompt_seed)
    prompts = [p for p, _ in items]
    with torch.no_grad():
        styled = pipe(prompts, seed=0, output="tensor", style_ref=reference, style_weight=args.weight,
                      style_sigma=args.sigma)
    rs = judge_batch(styled, [dataclasses.replace(a, style=args.style) for _, a in items])
    report[kind] = {"n": args.n, "styled_style": rs.get("style"), "styled_content": rs.get("content"),
                    "styled_all": rs["all"]}
    from PIL import Image
    Image.fromarray(np.concatenate(list(S.to_uint8(styled[:8])), 1)).resize((1024, 128), Image.NEAREST).save(
        f"/tmp/tokens_{kind}.png")
    print(kind, json.dumps(report[kind]), flush=True)
if args.out:
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")

"""A learned style: learn a rendering style under a new name from K training-stream images (scenes
900,000 + i of the training stream, with their captions beside them, as `difflab train style` reads
them), then judge the generations for held-out prompts (prompt seed PROMPT_SEED) with the style applied
against the same prompts and seeds without it, and with the style file applied to the prompts
that do not name it ("unnamed_*": how far the style leaks into them).

    .venv/bin/python docs/measurements/styles/learned_style.py STYLE NAME K STEPS N PROMPT_SEED \
        [--model DIR] [--options '{"lr": 1e-4}'] [--style-sigma S] [--out FILE.json]

--model: the text-to-image pipeline folder (default: the shipped one). --style-sigma: the noise level
below which the style acts (pipe(..., style_sigma=); default the pipeline's, LEARNED_STYLE_SIGMA;
inf: every step). --options: train_style's
keyword arguments as JSON, and "captions": false (examples without captions), "prior_stream": P (prior
preservation's prompts: the captions of P training-stream scenes, e.g. '{"prior_images": 100,
"prior_stream": 100}'). Prompt seeds: 7 and 12345 are
tuning sets; the reported set is EVAL_SEED (`difflab.data.shapes.EVAL_SEED`). The examples, the run
folder and picture grids (rows 1: without the style, 2: with it) go to /tmp/learned_style/.
"""
import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import difflab.data.shapes as S
from difflab.colour import keep_hue
from difflab.metrics.shapes_judge import judge_batch
from difflab.nets.lora import remove_lora
from difflab.pipelines.learned_styles import apply_style, train_style
from difflab.pipelines.text_to_image import TextToImagePipeline

parser = argparse.ArgumentParser()
for name, kind in (("style", str), ("name", str), ("k", int), ("steps", int), ("n", int), ("prompt_seed", int)):
    parser.add_argument(name, type=kind)
parser.add_argument("--model", default=None)
parser.add_argument("--options", default="{}", help="train_style's keyword arguments as JSON")
parser.add_argument("--style-sigma", type=float, default=None)
parser.add_argument("--sampling", default="{}", help="the pipeline's sampling keywords as JSON, e.g. "
                    "'{\"sampler\": \"ddim\", \"steps\": 50}' (every generation of the run)")
parser.add_argument("--out", default=None)
parser.add_argument("--examples-from", type=int, default=900_000,
                    help="the examples are training-stream scenes EXAMPLES_FROM + i (default 900,000)")
parser.add_argument("--class-word", default=None,
                    help="DreamBooth's class noun: NAME is written 'NAME CLASS' in every caption and prompt, and the prior "
                         "images are the base's own of the prior prompts in CLASS style")
parser.add_argument("--layout-word", default=None,
                    help="above style_sigma the base draws the prompt in this (known) style, below it the learned "
                         "style takes over")
parser.add_argument("--difference", action="store_true",
                    help="below style_sigma: the base's content guidance plus the adapted network's style difference")
parser.add_argument("--null-base", action="store_true",
                    help="below style_sigma: guidance from the base network's unconditional output to the adapted "
                         "network's styled one (the adapters never trained on the empty prompt)")
parser.add_argument("--clip-guidance", type=float, default=0.0,
                    help="the styled generations guided by the shipped unCLIP pipeline's CLIP encoder towards the text "
                         "embedding of the content prompt (difflab.guidance.EmbeddingGuidance), at this scale")
parser.add_argument("--hue-from-base", type=float, nargs="+", default=None, metavar="PX",
                    help="also judge the styled images with the hue of the unstyled image of the same prompt and "
                         "noise (difflab.colour.keep_hue(styled, base, blur=PX)), for each PX")
parser.add_argument("--clip-sigma", type=float, default=float("inf"),
                    help="with --clip-guidance: only at noise levels sigma <= this")
args = parser.parse_args()
if args.clip_guidance:
    from difflab.guidance import EmbeddingGuidance
    from difflab.pipelines.unclip import UnCLIPPipeline

    clip = UnCLIPPipeline.shipped().clip
    plain_styled = TextToImagePipeline.styled

    class Below(EmbeddingGuidance):
        def weight(self, sigma):
            w = super().weight(sigma)
            return torch.where(torch.as_tensor(sigma, dtype=torch.float64) <= args.clip_sigma, w, torch.zeros_like(w))

    def styled(self, prompts, guidance, style=None, *rest, **kw):
        model, cond = plain_styled(self, prompts, guidance, style, *rest, **kw)
        if style is None:
            return model, cond
        embed = lambda z: clip.net.encode_image(self.autoencoder.decode_latents(z).clamp(-1, 1))  # noqa: E731
        return Below(model, embed, clip.encode_text(list(prompts)), args.clip_guidance), cond

    TextToImagePipeline.styled = styled
if args.null_base:
    import difflab.guidance as G

    class NullBase(G.StyleGuidance):
        def _styled(self, x, sigma, **cond):
            if self.content.denoiser is self.denoiser:
                return super()._styled(x, sigma, **cond)
            styled = {k[len(G.STYLED):]: v for k, v in cond.items() if k.startswith(G.STYLED)}
            content = {k: v for k, v in cond.items() if not k.startswith(G.STYLED)}
            d_styled = self.denoiser(x, sigma, **styled)
            d_null = self.content.denoiser(x, sigma, **self._uncond(content))
            return d_null + self.scale * (d_styled - d_null)

    G.StyleGuidance = NullBase
if args.difference:
    import difflab.guidance as G

    class Difference(G.StyleGuidance):
        def _styled(self, x, sigma, **cond):
            if self.content.denoiser is self.denoiser:
                return super()._styled(x, sigma, **cond)
            styled = {k[len(G.STYLED):]: v for k, v in cond.items() if k.startswith(G.STYLED)}
            content = {k: v for k, v in cond.items() if not k.startswith(G.STYLED)}
            n = x.shape[0]
            s = torch.as_tensor(sigma, dtype=torch.float64)
            s = s.expand(n) if s.ndim == 0 else s
            batch = {k: torch.cat([content[k], styled[k]]) for k in content}
            x0 = self.denoiser(torch.cat([x, x]), torch.cat([s, s]), **batch)
            return self.content(x, sigma, **content) + self.style_scale * (x0[n:] - x0[:n])

    G.StyleGuidance = Difference
torch.set_num_threads(2)
extra = json.loads(args.options)
sampling = json.loads(args.sampling)
if "," in extra.get("layers", ""):  # layer names of the experiment's own, e.g. "q_x,kv_x,proj_x,qkv,proj"
    import difflab.pipelines.learned_styles as L
    L.LAYERS[extra["layers"]] = tuple(extra["layers"].split(","))
captions = extra.pop("captions", True)
# prior preservation's prompts: the captions of P training-stream scenes 800,000 + i (unstyled, flat)
prior_stream = extra.pop("prior_stream", 0)
if prior_stream:
    extra["prior_prompts"] = [S.make_scene(S.TRAIN_SEED, 800_000 + i).caption for i in range(prior_stream)]
    if args.class_word:
        extra["prior_prompts"] = [S.name_style(p, args.class_word) for p in extra["prior_prompts"]]
if args.class_word:
    import difflab.data.shapes
    plain_name_style = S.name_style

    def name_style(caption, style, *rest):
        return plain_name_style(caption, f"{style} {args.class_word}" if style == args.name else style, *rest)

    difflab.data.shapes.name_style = name_style
if args.layout_word:
    import difflab.data.shapes
    plain_name_style = S.name_style
    layout_suffix = " " + plain_name_style("", args.layout_word).strip()

    def name_style(caption, style, *rest):
        if style == args.name and caption.endswith(layout_suffix):
            caption = caption[:-len(layout_suffix)]
        return plain_name_style(caption, style, *rest)

    difflab.data.shapes.name_style = name_style
work = Path("/tmp/learned_style") / f"{args.name}-{args.k}-{args.steps}"
work.mkdir(parents=True, exist_ok=True)
files = []
for i in range(args.k):
    scene = S.make_scene(S.TRAIN_SEED, args.examples_from + i)
    f = work / f"ex{i}.png"
    Image.fromarray(S.render(dataclasses.replace(scene, style=args.style), 64)).save(f)
    files.append(f)
    cap = f.with_suffix(".txt")
    if captions:
        cap.write_text(scene.caption)
    elif cap.exists():
        cap.unlink()
pipe = TextToImagePipeline.load(args.model) if args.model else TextToImagePipeline.shipped()
t0 = time.time()
path = train_style(pipe, [str(f) for f in files], name=args.name, out=work / "run", steps=args.steps,
                   overwrite=True, progress=False, **extra)
train_s = time.time() - t0
size_kb = path.stat().st_size / 1e3
print(f"trained {args.steps} steps on {args.k} images in {train_s:.0f} s; file {size_kb:.0f} KB", flush=True)
report = {"style": args.style, "examples_from": args.examples_from, "k": args.k, "steps": args.steps, "train_s": round(train_s, 1),
          "file_kb": round(size_kb, 1), "prompt_seed": args.prompt_seed, "options": extra,
          "style_sigma": args.style_sigma, "difference": args.difference, "null_base": args.null_base, "class_word": args.class_word,
          "layout_word": args.layout_word, "sampling": sampling, "hue_from_base": args.hue_from_base,
          **({"clip_guidance": args.clip_guidance, "clip_sigma": args.clip_sigma} if args.clip_guidance else {})}
for kind in ("single", "pair"):
    items = S.eval_prompts(args.n, kind, args.prompt_seed)
    prompts = [p for p, _ in items]
    remove_lora(pipe.denoiser.net)
    base = pipe(prompts, seed=0, output="tensor", **sampling)
    word = apply_style(pipe, path)
    styled = pipe([S.name_style(p, args.layout_word) for p in prompts] if args.layout_word else prompts,
                  seed=0, output="tensor", style=word, style_sigma=args.style_sigma, **sampling)
    leaked = pipe(prompts, seed=0, output="tensor", **sampling)  # the style applied, the prompt not naming it
    remove_lora(pipe.denoiser.net)
    rows = [np.concatenate(list(S.to_uint8(x[:8])), 1) for x in (base, styled)]
    Image.fromarray(np.concatenate(rows, 0)).resize((1024, 256), Image.NEAREST).save(work / f"grid_{kind}.png")
    rb = judge_batch(base, [a for _, a in items])
    rs = judge_batch(styled, [dataclasses.replace(a, style=args.style) for _, a in items])
    rl = judge_batch(leaked, [dataclasses.replace(a, style=args.style) for _, a in items])
    report[kind] = {"n": args.n, "base_all": rb["all"], "styled_style": rs.get("style"),
                    "styled_content": rs.get("content"), "styled_all": rs["all"],
                    "unnamed_style": rl.get("style"), "unnamed_content": rl.get("content")}
    for px in args.hue_from_base or []:
        hued = keep_hue(styled, base, px)
        rh = judge_batch(hued, [dataclasses.replace(a, style=args.style) for _, a in items])
        report[kind][f"hued_{px:g}"] = {k: round(v, 3) for k, v in rh.items() if k != "n"}
        rows.append(np.concatenate(list(S.to_uint8(hued[:8])), 1))
        Image.fromarray(np.concatenate(rows, 0)).resize((1024, 128 * len(rows)), Image.NEAREST).save(work / f"grid_{kind}.png")
    print(kind, json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in report[kind].items()}), flush=True)
if args.out:
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")

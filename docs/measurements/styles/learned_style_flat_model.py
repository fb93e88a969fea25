"""A learned style on the shipped (flat-only) text-to-image model: learn a rendering style under a new
name from K training-stream images (with their captions beside them), then judge generations for
held-out prompts (prompt seed PROMPT_SEED; 7 is a tuning set, not the reported EVAL_SEED) as that style.

    .venv/bin/python docs/measurements/styles/learned_style_flat_model.py STYLE NAME K STEPS N PROMPT_SEED ['{"lr": 1e-4}']

Writes its examples, run folder and picture grids under /tmp/learned_style/.
"""
import dataclasses, json, sys, time
from pathlib import Path
import numpy as np, torch
import difflab.data.shapes as S
from difflab.pipelines.text_to_image import TextToImagePipeline
from difflab.pipelines.learned_styles import train_style, apply_style
from difflab.nets.lora import remove_lora
from difflab.metrics.shapes_judge import judge_batch
torch.set_num_threads(2)
style, name = sys.argv[1], sys.argv[2]
k = int(sys.argv[3]); steps = int(sys.argv[4]); n = int(sys.argv[5]); prompt_seed = int(sys.argv[6])
extra = json.loads(sys.argv[7]) if len(sys.argv) > 7 else {}
captions = extra.pop("captions", True)
work = Path("/tmp/learned_style") / f"{name}-{k}-{steps}"
work.mkdir(parents=True, exist_ok=True)
from PIL import Image
files = []
for i in range(k):
    sc = dataclasses.replace(S.make_scene(S.TRAIN_SEED, 900_000 + i), style=style)
    f = work / f"ex{i}.png"; Image.fromarray(S.render(sc, 64)).save(f); files.append(f)
    cap = f.with_suffix(".txt")
    if captions:
        cap.write_text(S.make_scene(S.TRAIN_SEED, 900_000 + i).caption)
    elif cap.exists():
        cap.unlink()
pipe = TextToImagePipeline.shipped()
t0 = time.time()
path = train_style(pipe, [str(f) for f in files], name=name, out=work / "run", steps=steps, overwrite=True, progress=False, **extra)
train_s = time.time() - t0
print(f"trained {steps} steps on {k} images in {train_s:.0f} s; file {path.stat().st_size / 1e3:.0f} KB", flush=True)
res = {}
for kind in ("single", "pair"):
    items = S.eval_prompts(n, kind, prompt_seed)
    prompts = [p for p, _ in items]
    remove_lora(pipe.denoiser.net)
    base = pipe(prompts, seed=0, output="tensor")
    word = apply_style(pipe, path)
    styled = pipe(prompts, seed=0, output="tensor", style=word)
    remove_lora(pipe.denoiser.net)
    from difflab.data.shapes import to_uint8
    Image.fromarray(np.concatenate([np.concatenate(list(to_uint8(base[:8])), 1), np.concatenate(list(to_uint8(styled[:8])), 1)], 0)).resize((1024, 256), Image.NEAREST).save(work / f"grid_{kind}.png")
    rb = judge_batch(base, [a for _, a in items])
    rs = judge_batch(styled, [dataclasses.replace(a, style=style) for _, a in items])
    res[kind] = {"base_all": rb["all"], "styled_style": rs.get("style"), "styled_content": rs.get("content"), "styled_all": rs["all"]}
    print(kind, json.dumps({k2: round(v, 3) for k2, v in res[kind].items()}), flush=True)

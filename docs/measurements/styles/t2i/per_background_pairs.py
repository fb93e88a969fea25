"""Pair faithfulness of a text-to-image folder per background (the judge's), at guidance 3, 20 steps, its
default grid (default) or the rule with its first level forced (a number). Tuning pair prompts (--prompt-seed 12345),
seed 0. argv FOLDER N LEVELS,..  Session 23: src/difflab/assets/shapes-t2i-styles 150 default,4 (per_background_pairs_s23.txt)."""
import sys, collections, torch
from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_pixels import as_uint8, background
from difflab.metrics.shapes_judge import judge
from difflab.grids import tuned_grid
from difflab.pipelines.text_to_image import TextToImagePipeline
torch.set_num_threads(2)
pipe = TextToImagePipeline.load(sys.argv[1]); n = int(sys.argv[2])
items = eval_prompts(n, 'pair', 12345)
sch = pipe.denoiser.schedule
for top in sys.argv[3].split(','):
    kw = {} if top == 'default' else {'sigmas': tuned_grid(float(sch.ve_sigma_max), 20, float(sch.ve_sigma_min), 1.0, (float(top)/4)**2, (float(top)/4)**2)}
    imgs = pipe([p for p, _ in items], seed=0, output='tensor', guidance=3.0, steps=20, **kw)
    acc = collections.defaultdict(list)
    for x, (_, a) in zip(imgs, items):
        acc[background(as_uint8(x))[1]].append(judge(x, a)['all'])
    print(top, {k: (len(v), round(sum(v)/len(v), 3)) for k, v in acc.items()}, flush=True)

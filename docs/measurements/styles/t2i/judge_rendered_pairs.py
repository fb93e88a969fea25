"""The judge on rendered two-object scenes per background (tuning stream 777, 600 scenes, each's own caption):
a check that the per-background pair figures (per_background_pairs.py) are the model's, not the judge's.
Session 23: 1.0 on black, gray and white (per_background_pairs_s23.txt)."""
import collections, numpy as np
from difflab.data.shapes import make_scene, render, to_tensor
from difflab.metrics.shapes_pixels import as_uint8, background
from difflab.metrics.shapes_judge import judge

acc = collections.defaultdict(list)
scenes = [s for s in (make_scene(777, i) for i in range(2000)) if len(s.objects) == 2][:600]
from difflab.data.shapes import all_captions
for s in scenes:
    x = to_tensor(render(s, 64)[None])[0]
    cap = all_captions(s)[0][1]
    acc[background(as_uint8(x))[1]].append(judge(x, cap)['all'])
print({k: (len(v), round(float(np.mean(v)), 3)) for k, v in acc.items()})

"""Issue 17, session 26: the colour the judge detects in each single-object image (tuning prompts, n = 400) at a
setting against the 50-step solve, where they differ: (asked, 50 steps, the setting) counts. Reads runs/s26/tune400.npz
(paired.py). PYTHONPATH=src .venv/bin/python docs/measurements/grid_t2i/s26/colour_changes.py s10,s10dpm,s10rule
Output: colour_changes.txt."""
import sys, collections, numpy as np, torch
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_judge import detect
from difflab.data.shapes import to_uint8
r = np.load('runs/s26/tune400.npz'); n = 400
pipe = TextToImagePipeline.load(shipped_model_path())
items = eval_prompts(n, "single", 12345)
names = sys.argv[1].split(',')
ims = {nm: to_uint8(pipe.decode(torch.tensor(r[nm + '_z'][:n]))) for nm in ['ref50'] + names}
for nm in names:
    c = collections.Counter()
    for i in range(n):
        want = items[i][1].objects[0].colour
        got = [d.colour for d in detect(ims[nm][i])[1]][:1]
        ref = [d.colour for d in detect(ims['ref50'][i])[1]][:1]
        if got != ref: c[(want, ref[0] if ref else None, got[0] if got else None)] += 1
    print(nm, sorted(c.items(), key=lambda kv: -kv[1]))

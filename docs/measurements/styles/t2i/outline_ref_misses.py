"""Issue 20, session 26: what the content judge misses under an outline style reference (the committed pipeline and
adapter; the tuning prompts, --prompt-seed 12345, 100 single-object prompts, a new reference every 10 as eval-t2i
draws them). Prints each miss (reference k, asked colour, colours found reading the image as outline, failed checks),
then the counts. PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/outline_ref_misses.py [ADAPTER]
Output: outline_ref_misses_s26.txt (the adapter committed then: decoupled, `git show
47afc21:src/difflab/assets/shapes-t2i-styles/style_adapter.safetensors`), outline_ref_misses_s27.txt (both pathways, the committed
one since)."""
import sys
import collections, dataclasses, numpy as np, torch
from difflab.pipelines.text_to_image import TextToImagePipeline
from difflab.data.shapes import eval_prompts, make_scene, render
from difflab.metrics.shapes_judge import judge, detect
from difflab.metrics.style_judge import judge_style
from difflab.evaluate.text_to_image import REFERENCE_OFFSET
torch.set_num_threads(2)
pipe = TextToImagePipeline.load("src/difflab/assets/shapes-t2i-styles")
if len(sys.argv) > 1:
    pipe.style_adapter = sys.argv[1]
items = eval_prompts(100, "single", 12345)
bad = collections.Counter(); shown = collections.Counter(); colours = collections.Counter()
for k in range(10):
    ref = render(dataclasses.replace(make_scene(12345, REFERENCE_OFFSET + k), style="outline"), 64)
    chunk = items[10 * k:10 * k + 10]
    x = pipe([p for p, _ in chunk], seed=10 * k, output="tensor", guidance=3.0, style_ref=ref)
    for i, (_, a) in enumerate(chunk):
        a2 = dataclasses.replace(a, style="outline")
        v = judge(x[i], a2)
        shown[judge_style(((x[i].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8))] += 1
        if not v["content"]:
            bad[tuple(c for c, ok in v.items() if not ok and c not in ("all", "content", "style"))] += 1
            found = [d.colour for d in detect(x[i], style='outline')[1]]
            colours[(a.objects[0].colour, tuple(found))] += 1
            print(k, a.objects[0].colour, found, [c for c, ok in v.items() if not ok])
print("content misses", sum(bad.values()), bad.most_common())
print("style shown", shown.most_common())
print("asked colour -> found", colours.most_common(12))

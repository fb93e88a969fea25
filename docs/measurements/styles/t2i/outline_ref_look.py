"""Issue 20, session 26: docs/images/styles_outline_reference.png. For references 0, 4 and 9 of the tuning prompts'
stream (outline style, first column), the first 10 tuning prompts each with the reference (top row) and with the
style word instead (bottom row), same seeds.
    PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/outline_ref_look.py [ADAPTER OUT]
Session 26 drew docs/images/styles_outline_reference.png with the adapter committed then (decoupled; `git show
47afc21:src/difflab/assets/shapes-t2i-styles/style_adapter.safetensors`); session 27 drew styles_outline_reference_both.png with
the adapter of both pathways (the committed one since)."""
import sys
import dataclasses, numpy as np, torch
from PIL import Image
from difflab.pipelines.text_to_image import TextToImagePipeline
from difflab.data.shapes import eval_prompts, make_scene, render
from difflab.evaluate.text_to_image import REFERENCE_OFFSET
torch.set_num_threads(2)
pipe = TextToImagePipeline.load("src/difflab/assets/shapes-t2i-styles")
if len(sys.argv) > 1:
    pipe.style_adapter = sys.argv[1]
items = eval_prompts(100, "single", 12345)
rows = []
for k in (0, 4, 9):
    ref = render(dataclasses.replace(make_scene(12345, REFERENCE_OFFSET + k), style="outline"), 64)
    chunk = items[10 * k:10 * k + 10]
    x = pipe([p for p, _ in chunk], seed=10 * k, guidance=3.0, style_ref=ref)
    w = pipe([p + " in outline style" for p, _ in chunk], seed=10 * k, guidance=3.0)
    print(k, [p for p, _ in chunk])
    rows.append(np.concatenate([ref] + list(x), 1)); rows.append(np.concatenate([ref * 0] + list(w), 1))
Image.fromarray(np.concatenate(rows, 0)).save(sys.argv[2] if len(sys.argv) > 2 else
                                                  "docs/images/styles_outline_reference.png")

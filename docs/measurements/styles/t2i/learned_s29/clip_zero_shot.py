"""Issue 20, session 29: the shipped unCLIP pipeline's CLIP encoder, zero-shot colour and shape of 200 rendered held-out
single objects per rendering style (EVAL_SEED; prompt ensembles of difflab.pipelines.clip.class_prompts).

    PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/learned_s29/clip_zero_shot.py
"""
import numpy as np, torch
torch.set_num_threads(1)
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.pipelines.clip import class_prompts
from difflab.data.shapes import EVAL_SEED, make_scene, render, to_tensor
clip = UnCLIPPipeline.shipped().clip
for style in ("flat", "dotted", "striped", "outline"):  # the learned style is dotted
    singles, i = [], 0
    while len(singles) < 200:
        s = make_scene(EVAL_SEED, i, styles=[style]); i += 1
        if len(s.objects) == 1: singles.append(s)
    images = to_tensor(np.stack([render(s, 64) for s in singles]))
    out = {}
    for attr, labels in (("colour", [s.objects[0].colour for s in singles]), ("shape", [s.objects[0].shape for s in singles])):
        classes = class_prompts(attr); names = list(classes)
        g = clip.zero_shot(images, classes).argmax(1).tolist()
        out[attr] = np.mean([names[k] == y for k, y in zip(g, labels)])
    print(style, out)

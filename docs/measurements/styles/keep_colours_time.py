"""Session 32: keep_colours with a style reference on the shipped styled pipeline (4 images of one prompt, 20 steps,
one thread): the styled images alone, keep_colours with the shared evaluations, and keep_colours without them (the code
before: no SharedEvaluations); the last two must be equal bit for bit. docs/styles.md, section 6.

    PYTHONPATH=src .venv/bin/python docs/measurements/styles/keep_colours_time.py
"""
import dataclasses
import time

import torch

import difflab.pipelines.text_to_image as T
from difflab.data import shapes as S

torch.set_num_threads(1)
pipe = T.TextToImagePipeline.shipped(styles=True)
ref = S.render(dataclasses.replace(S.make_scene(0, 2), style="striped"), pipe.config["image_size"])
prompts = ["a red circle to the left of a blue square"] * 4


def run(**kw):
    start = time.perf_counter()
    x, info = pipe(prompts, seed=0, return_info=True, style_ref=ref, **kw)
    return time.perf_counter() - start, info.nfe, x


run()  # warm
for _ in range(2):
    t1, n1, _ = run()
    t2, n2, shared = run(keep_colours=True)
    real, T.SharedEvaluations = T.SharedEvaluations, lambda: None  # keep_colours as before: nothing shared
    t3, n3, alone = run(keep_colours=True)
    T.SharedEvaluations = real
    print(f"styled alone {t1:.2f} s, NFE {n1}; keep_colours {t2:.2f} s, NFE {n2}; without sharing {t3:.2f} s, "
          f"NFE {n3}; equal {bool((shared == alone).all())}")

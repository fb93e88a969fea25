"""Issue 19, session 34, tuning range only (60 pairs from TUNING_START + 100): is a pixel crossfade between the
two sources, (1 - t) a + t b at 8 and 4 frames, monotone in the CLIP margin cos(frame, B) - cos(frame, A)?
A path that moves continuously in pixels: the monotone test's own resolution. Per frame count: the share of
monotone pairs and the ten largest dips as fractions of the margin's span.

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/partial_s34/crossfade.py
"""
import numpy as np, torch
from difflab.data.shapes import to_uint8
from difflab.evaluate.unclip import TUNING_START, held_out_scenes
from difflab.pipelines.unclip import UnCLIPPipeline
torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
pairs=60
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 100, size=pipe.config["image_size"])
source = to_uint8(images)
for frames in (8, 4):
  mono=[]; dips=[]
  for k in range(pairs):
    a, b = source[2*k].astype(np.float32), source[2*k+1].astype(np.float32)
    out = [np.round((1-t)*a + t*b).astype(np.uint8) for t in np.linspace(0,1,frames)]
    e = pipe.clip.encode_image([source[2*k], source[2*k+1]])
    zz = pipe.clip.encode_image(out)
    m = (zz @ e[1] - zz @ e[0]).numpy()
    mono.append(bool((np.diff(m) >= 0).all())); dips.append(float(-np.diff(m).min()/ (m[-1]-m[0])))
  print(frames, np.mean(mono), np.round(np.sort(dips)[-10:],3))

"""Issue 19, session 27: interpolation frames reranked toward the path (tuning range: 20 pairs of held-out scenes from
51,000, 8 frames, K = 4 noises per frame). k1: one noise for every frame (the default); frame: each frame the candidate
whose re-encoded embedding is nearest the path point slerp(z_a, z_b, t) (DALL-E 2's CLIP reranking, per frame); path:
the one noise whose frames are nearest the path in sum; frame_mono: as frame, but a candidate whose margin falls below
the previous frame's is passed over (selection by the measured quantity itself: a bound, not a method). Prints the share
of monotone pairs.

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/interpolation_rerank.py
"""
import numpy as np, torch
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.unclip import held_out_scenes, TUNING_START
from difflab.data.shapes import to_uint8
torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
pairs, frames, K = 20, 8, 4
scenes, images = held_out_scenes(2 * pairs, TUNING_START + 1000, size=pipe.config["image_size"])
source = to_uint8(images)
res = {"k1": [], "frame": [], "path": [], "frame_mono": []}
for p in range(pairs):
    a, b = source[2 * p], source[2 * p + 1]
    ends = pipe.clip.encode_image([a, b])
    cands, zs = [], []
    for j in range(K):
        imgs, path = pipe.interpolate(a, b, frames, seed=1000 * j + p, candidates=1, pacing=1)
        z = pipe.clip.encode_image(list(imgs)); zs.append(z)
    Z = torch.stack(zs)  # K, F, D
    margin = (Z @ ends[1] - Z @ ends[0]).cpu().numpy()  # K, F
    near = (Z * path[None]).sum(-1).cpu().numpy()  # cos to the path point (unit vectors)
    mono = lambda m: bool((np.diff(m) >= 0).all())
    res["k1"].append(mono(margin[0]))
    pick = near.argmax(0); res["frame"].append(mono(margin[pick, np.arange(frames)]))
    best = near.sum(1).argmax(); res["path"].append(mono(margin[best]))
    # per frame, among the candidates keep the nearest whose margin is not below the previous frame's
    m_prev, ok = -9, True
    seq = []
    for f in range(frames):
        order = np.argsort(-near[:, f])
        c = next((j for j in order if margin[j, f] >= m_prev), order[0])
        seq.append(margin[c, f]); m_prev = margin[c, f]
    res["frame_mono"].append(mono(np.array(seq)))
    print(p, {k: v[-1] for k, v in res.items()}, flush=True)
print({k: float(np.mean(v)) for k, v in res.items()})

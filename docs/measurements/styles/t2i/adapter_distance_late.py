"""Issue 20, session 27: where each style adapter falls short of the style word, per style, at the noise levels where a
reference acts (sigma <= 2.5, REFERENCE_STYLE_SIGMA). On N training-stream scenes of the five trained styles (scenes
100,000 + i, not the adapters' 8,000), one draw of t (uniform over the table entries with sigma <= 2.5) and noise per
scene: the squared distance of each adapter's prediction (content caption + a reference: the next scene of the same
style) to the pipeline's prediction for the caption naming the style (the `--target style-word` of training), and of
the content caption alone.

    PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/adapter_distance_late.py N PIPELINE ADAPTER [ADAPTER ...]
"""
import sys

import numpy as np
import torch

import difflab.data.shapes as S
from difflab.pipelines.style_adapter import adapted, load_style_adapter
from difflab.pipelines.text_to_image import REFERENCE_STYLE_SIGMA, TextToImagePipeline

torch.set_num_threads(2)
n, folder, files = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
styles = ("flat", "outline", "striped", "pixel", "glow")
pipe = TextToImagePipeline.load(folder)
scenes = [S.make_scene(S.TRAIN_SEED, 100_000 + i, styles) for i in range(n + 50)]
content_caps = [S.make_scene(S.TRAIN_SEED, 100_000 + i).caption for i in range(n)]
styled_caps = [sc.caption for sc in scenes[:n]]
style = np.array([sc.style for sc in scenes])
images = S.to_tensor(np.stack([S.render(sc, 64) for sc in scenes]))
refs = [next(k for k in range(i + 1, n + 50) if style[k] == style[i]) for i in range(n)]
schedule = pipe.denoiser.schedule
t_max = schedule.t_from_ve_sigma(torch.tensor(REFERENCE_STYLE_SIGMA, dtype=torch.float64))
entries = int(torch.floor(schedule.index_from_t(t_max)).clamp(0, schedule.T - 1)) + 1
g = torch.Generator().manual_seed(0)
with torch.no_grad():
    z = pipe.autoencoder.encode_latents(images[:n], mode=True).float()
    t = schedule.t_from_index(torch.randint(0, entries, (n,), generator=g).to(torch.float64))
    eps = torch.randn(z.shape, generator=g)
    alpha = schedule.alpha(t).view(-1, 1, 1, 1).float()
    sigma = schedule.sigma(t).view(-1, 1, 1, 1).float()
    x_t = alpha * z + sigma * eps


def outputs(model, cond, tokens=None, batch=50):
    out = []
    for i in range(0, n, batch):
        c = {k: v[i:i + batch] for k, v in cond.items()}
        if tokens is not None:
            c["style_tokens"] = tokens[i:i + batch]
        out.append(model.net_output(x_t[i:i + batch], t[i:i + batch], **c).float())
    return torch.cat(out)


with torch.no_grad():
    cc = pipe.encode_prompts(content_caps)
    teacher = outputs(pipe.denoiser, pipe.encode_prompts(styled_caps))
    distance = {"content caption": (outputs(pipe.denoiser, cc) - teacher).pow(2).flatten(1).mean(1).numpy()}
    for f in files:
        adapter, meta = load_style_adapter(f, pipe.denoiser.net)
        tokens = adapter.encode(images[refs].to(next(adapter.parameters()).dtype)).float()
        name = f"{meta['config'].get('attention', 'decoupled')}: {f}"
        distance[name] = (outputs(adapted(pipe.denoiser, adapter), cc, tokens) - teacher).pow(2).flatten(1).mean(1).numpy()
print(f"{n} scenes, sigma <= {REFERENCE_STYLE_SIGMA}; squared distance to the prediction for the caption naming the style")
print(f"{'':75s}" + "".join(f"{s:>9s}" for s in styles) + f"{'all':>9s}")
for name, v in distance.items():
    print(f"{name:75s}" + "".join(f"{v[style[:n] == s].mean():9.4f}" for s in styles) + f"{v.mean():9.4f}")

"""Issue 20: how much of the style a reference's tokens carry, read from the denoising loss itself.
On N training-stream scenes of the five trained styles (scenes 100,000 + i, not the adapters'
8,000), with one fixed draw of t and noise per scene, the pipeline's v-loss per style for: the
content-only caption (what an adapter starts from), the caption naming the style (the style word:
what a perfect reference would give), and each adapter given a reference, another scene of the
same style. Then each adapter's squared distance to the caption naming the style (the
"style-word" target's loss), per style.

    .venv/bin/python docs/measurements/styles/t2i/adapter_losses.py N ADAPTER [ADAPTER ...]
"""
import sys

import numpy as np
import torch

import difflab.data.shapes as S
from difflab.losses import denoising_loss, sample_t
from difflab.pipelines.style_adapter import adapted, load_style_adapter
from difflab.pipelines.text_to_image import TextToImagePipeline

torch.set_num_threads(2)
n, files = int(sys.argv[1]), sys.argv[2:]
styles = ("flat", "outline", "striped", "pixel", "glow")
pipe = TextToImagePipeline.load("src/difflab/assets/shapes-t2i-styles")
scenes = [S.make_scene(S.TRAIN_SEED, 100_000 + i, styles) for i in range(n + 50)]
content_caps = [S.make_scene(S.TRAIN_SEED, 100_000 + i).caption for i in range(n)]
styled_caps = [sc.caption for sc in scenes[:n]]
style = np.array([sc.style for sc in scenes])
images = S.to_tensor(np.stack([S.render(sc, 64) for sc in scenes]))
refs = []  # the next scene of the same style
for i in range(n):
    j = next(k for k in range(i + 1, n + 50) if style[k] == style[i])
    refs.append(j)
g = torch.Generator().manual_seed(0)
with torch.no_grad():
    z = pipe.autoencoder.encode_latents(images[:n], mode=True)
    t = sample_t(pipe.denoiser.schedule, n, g)
    eps = torch.randn(z.shape, generator=g)


def losses(model, cond, extra=None):
    out = []
    for i in range(n):
        c = {k: v[i:i + 1] for k, v in cond.items()}
        if extra is not None:
            c.update(extra(i))
        out.append(float(denoising_loss(model, z[i:i + 1], t=t[i:i + 1], noise=eps[i:i + 1], cond=c)))
    return np.array(out)


def outputs(model, cond, extra=None):
    alpha = pipe.denoiser.schedule.alpha(t).view(-1, 1, 1, 1).float()
    sigma = pipe.denoiser.schedule.sigma(t).view(-1, 1, 1, 1).float()
    x_t = alpha * z + sigma * eps
    out = []
    for i in range(n):
        c = {k: v[i:i + 1] for k, v in cond.items()}
        if extra is not None:
            c.update(extra(i))
        out.append(model.net_output(x_t[i:i + 1], t[i:i + 1], **c))
    return torch.cat(out)


with torch.no_grad():
    rows = {"content caption": losses(pipe.denoiser, pipe.encode_prompts(content_caps)),
            "caption naming the style": losses(pipe.denoiser, pipe.encode_prompts(styled_caps))}
    cc = pipe.encode_prompts(content_caps)
    teacher = outputs(pipe.denoiser, pipe.encode_prompts(styled_caps))
    distance = {"content caption": (outputs(pipe.denoiser, cc) - teacher).pow(2).flatten(1).mean(1).numpy()}
    for f in files:
        adapter, meta = load_style_adapter(f, pipe.denoiser.net)
        model = adapted(pipe.denoiser, adapter)
        tokens = adapter.encoder(images[refs])
        name = f"{meta['config'].get('attention', 'decoupled')}: {f}"
        rows[name] = losses(model, cc, lambda i: {"style_tokens": tokens[i:i + 1]})
        distance[name] = (outputs(model, cc, lambda i: {"style_tokens": tokens[i:i + 1]}) - teacher
                          ).pow(2).flatten(1).mean(1).numpy()
print(f"{n} scenes; v-loss per style (mean)")
print(f"{'':60s}" + "".join(f"{s:>9s}" for s in styles) + f"{'all':>9s}")
for name, v in rows.items():
    print(f"{name[:60]:60s}" + "".join(f"{v[style[:n] == s].mean():9.4f}" for s in styles) + f"{v.mean():9.4f}")
print("squared distance to the prediction for the caption naming the style (mean)")
for name, v in distance.items():
    print(f"{name[:60]:60s}" + "".join(f"{v[style[:n] == s].mean():9.4f}" for s in styles) + f"{v.mean():9.4f}")

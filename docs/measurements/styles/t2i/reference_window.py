"""Issue 20, session 25 (exploration before LateReference existed): the committed style adapter applied only where
the DDPM time index t lies in [LO, HI] and/or only at some cross-attention layers (0-10, or all), weight W, judged on
the tuning prompts (prompt seed 12345).

    PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/reference_window.py LO HI all|I,J,... [W] [N]"""
import sys, json, torch
from difflab.pipelines.text_to_image import TextToImagePipeline
from difflab.nets import style_adapter as SA
from difflab.evaluate.text_to_image import evaluate_text_to_image
torch.set_num_threads(2)
lo, hi = float(sys.argv[1]), float(sys.argv[2])
layers = None if sys.argv[3] == "all" else [int(i) for i in sys.argv[3].split(",")]
W = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
n = int(sys.argv[5]) if len(sys.argv) > 5 else 30
orig = SA.StyleAdaptedNet.forward
def forward(self, x, noise_input, *, style_image=None, style_tokens=None, style_weight=None, **cond):
    if style_tokens is not None and style_weight is not None:
        t = torch.as_tensor(noise_input, dtype=torch.float32).reshape(-1).expand(x.shape[0]).to(x.device)
        w = torch.as_tensor(style_weight, dtype=torch.float32).to(x.device).expand(x.shape[0])
        style_weight = w * ((t >= lo) & (t <= hi)).float()
    if layers is not None and style_tokens is not None:
        kv = self.adapter.keys_values(style_tokens, self._blocks)
        blocks = [self._blocks[i] for i in layers]; kv = [kv[i] for i in layers]
        n_ = x.shape[0]
        w = torch.ones(n_) if style_weight is None else torch.as_tensor(style_weight, dtype=torch.float32)
        w = w.to(x.device).expand(n_)
        with SA.image_prompt(blocks, kv, w, self.adapter.joint):
            return self.net(x, noise_input, **cond)
    return orig(self, x, noise_input, style_image=style_image, style_tokens=style_tokens, style_weight=style_weight, **cond)
SA.StyleAdaptedNet.forward = forward
pipe = TextToImagePipeline.load("src/difflab/assets/shapes-t2i-styles")
print(len(SA.cross_attention_blocks(pipe.denoiser.net)), "cross-attention layers", file=sys.stderr)
r = evaluate_text_to_image(pipe, n=n, guidances=(3.0,), prompt_seed=12345, progress=False,
                           style_refs=["flat", "outline", "striped", "pixel", "glow"], style_weight=W, style_method="adapter")
d = r["results"]["3"]
st = {s: (v["single"]["style"] + v["pair"]["style"]) / 2 for s, v in d["style_refs"].items()}
ct = {s: v["single"]["content"] for s, v in d["style_refs"].items()}
print(json.dumps({"lo": lo, "hi": hi, "layers": sys.argv[3], "W": W, "style": round(sum(st.values()) / 5, 3),
                  "content": round(sum(ct.values()) / 5, 3), "unstyled": d["single"]["all"],
                  "per_style": {s: (round(st[s], 2), round(ct[s], 2)) for s in st}}))

"""Issue 20, session 25: trained style words given as generate --style does (stylize 1) acting only at sigma <= S
(inf: the plain styled prompt), judged on the tuning prompts (prompt seed 12345).

    PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/word_sigma.py S [N]"""
import sys, json, torch
import difflab.pipelines.text_to_image as T
from difflab.evaluate.text_to_image import evaluate_text_to_image
torch.set_num_threads(2)
S = float(sys.argv[1]); n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
orig = T.TextToImagePipeline.styled
def styled(self, prompts, guidance, style, stylize, negative_prompt=None, denoiser=None, null_extra=None, style_sigma=None):
    if style is not None and style_sigma is None:
        style_sigma = S
    return orig(self, prompts, guidance, style, stylize, negative_prompt, denoiser, null_extra, style_sigma)
T.TextToImagePipeline.styled = styled
pipe = T.TextToImagePipeline.load("src/difflab/assets/shapes-t2i-styles")
styles = ["flat", "outline", "striped", "pixel", "glow"]
r = evaluate_text_to_image(pipe, n=n, guidances=(3.0,), prompt_seed=12345, progress=False, styles=styles, stylize=1.0)
d = r["results"]["3"]
st = {s: (v["single"]["style"] + v["pair"]["style"]) / 2 for s, v in d["styles"].items() if s in styles}
ct = {s: v["single"]["content"] for s, v in d["styles"].items() if s in styles}
print(json.dumps({"S": S, "style": round(sum(st.values()) / 5, 3), "content": round(sum(ct.values()) / 5, 3),
                  "unstyled": d["single"]["all"], "per_style": {s: (round(st[s], 2), round(ct[s], 2)) for s in st}}))

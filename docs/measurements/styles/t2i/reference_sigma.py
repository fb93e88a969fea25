"""Issue 20, session 25: a style adapter whose reference acts only at sigma <= S (REFERENCE_STYLE_SIGMA), weight W,
judged on the tuning prompts (prompt seed 12345 by default; n prompts per kind, one reference per 10 prompts).

    PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/reference_sigma.py S W [N] [PROMPT_SEED] [PIPELINE] [ADAPTER]

Prints style (mean of single and pair over flat, outline, striped, pixel, glow) and single-object content."""
import sys, json, torch
import difflab.pipelines.text_to_image as T
from difflab.evaluate.text_to_image import evaluate_text_to_image
torch.set_num_threads(2)
S, W = float(sys.argv[1]), float(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 30
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 12345
T.REFERENCE_STYLE_SIGMA = S
pipe = T.TextToImagePipeline.load(sys.argv[5] if len(sys.argv) > 5 else "src/difflab/assets/shapes-t2i-styles")
if len(sys.argv) > 6:
    pipe.style_adapter = sys.argv[6]
r = evaluate_text_to_image(pipe, n=n, guidances=(3.0,), prompt_seed=seed, progress=False,
                           style_refs=["flat", "outline", "striped", "pixel", "glow"], style_weight=W, style_method="adapter")
d = r["results"]["3"]
st = {s: (v["single"]["style"] + v["pair"]["style"]) / 2 for s, v in d["style_refs"].items()}
ct = {s: v["single"]["content"] for s, v in d["style_refs"].items()}
print(json.dumps({"S": S, "W": W, "style": round(sum(st.values()) / 5, 3), "content": round(sum(ct.values()) / 5, 3),
                  "unstyled": d["single"]["all"], "settings": d["settings"].get("style_sigma"),
                  "per_style": {s: (round(st[s], 2), round(ct[s], 2)) for s in st}}))

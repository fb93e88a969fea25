#!/bin/bash
# Issue 20, session 29: the learned style (session 28's recipe) with the styled generations guided by the shipped
# unCLIP pipeline's CLIP encoder towards the text embedding of the content prompt (difflab.guidance.EmbeddingGuidance),
# tuning prompts (seed 7), n = 100; one JSON per scale. Without guidance the same recipe scored 80% / 71% (learned_s28).
set -e
cd "$(dirname "$0")/../../../../.."
for s in 10 50 300; do
  PYTHONPATH=src .venv/bin/python docs/measurements/styles/learned_style.py dotted dotsy 20 600 100 7 \
    --model src/difflab/assets/shapes-t2i-styles --style-sigma 0.5 \
    --options '{"prior_images": 100, "prior_stream": 100, "prior_weight": 3, "layers": "conv"}' \
    --clip-guidance $s --out docs/measurements/styles/t2i/learned_s29/clip$s.json
done

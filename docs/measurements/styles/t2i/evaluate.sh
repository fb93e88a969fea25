# Issue 20, session 19: the styled pipeline as evaluated = the denoiser of runs/styles/t2i (EMA weights, float16)
# with the committed autoencoder (checkpoints/styles/autoencoder: the same encoder the denoiser's latents came from,
# its decoder fine-tuned alone). Tuning prompts (--prompt-seed 12345) choose; the held-out prompts (the default) report.
set -e
P=${P:-/tmp/styled-t2i}
rm -rf "$P" && .venv/bin/python scripts/export_fp16.py runs/styles/t2i "$P"
rm -rf "$P/autoencoder" && cp -r checkpoints/styles/autoencoder "$P/autoencoder"
case "$1" in
  tune)   .venv/bin/difflab eval-t2i --model "$P" --styles all --n 30 --prompt-seed 12345 --guidance 3 5 \
            --out docs/measurements/styles/t2i/tune_style_words_s19.json ;;
  report) .venv/bin/difflab eval-t2i --model "$P" --styles all --n 100 --guidance "${G:-3}" \
            --out docs/measurements/styles/t2i/eval_style_words_s19.json ;;
  sref-tune) .venv/bin/difflab eval-t2i --model "$P" --style-refs flat,outline,striped,pixel,glow --style-method shared \
            --style-weight "${W:-1}" --n 30 --prompt-seed 12345 --guidance "${G:-3}" \
            --out docs/measurements/styles/t2i/tune_sref_shared_w${W:-1}_s19.json ;;
esac

# Issue 20: the styled pipeline as evaluated = the denoiser of run folder R (EMA weights, float16) with the committed
# autoencoder (checkpoints/styles/autoencoder: the same encoder the denoiser's latents came from, its decoder
# fine-tuned alone). Tuning prompts (--prompt-seed 12345) choose; the held-out prompts (the default) report.
#   R=runs/styles/t2i TAG=s19 bash evaluate.sh tune|report|sref-tune     (session 19's run; the defaults)
#   R=runs/styles/t2i_b TAG=s20 bash evaluate.sh ...                      (session 20's continuation, train_b.sh)
#   A=FILE W=1 ... bash evaluate.sh sref-adapter-tune|sref-adapter-report  (a trained style adapter, W its weight)
set -e
R=${R:-runs/styles/t2i}
TAG=${TAG:-s19}
P=${P:-/tmp/styled-t2i}
D=docs/measurements/styles/t2i
if [ "${EXPORT:-1}" = 1 ]; then
  rm -rf "$P" && .venv/bin/python scripts/export_fp16.py "$R" "$P"
  rm -rf "$P/autoencoder" && cp -r checkpoints/styles/autoencoder "$P/autoencoder"
fi
REFS=flat,outline,striped,pixel,glow
case "$1" in
  tune)   .venv/bin/difflab eval-t2i --model "$P" --styles all --n 30 --prompt-seed 12345 --guidance ${G:-3 5} \
            --out $D/tune_style_words_$TAG.json ;;
  report) .venv/bin/difflab eval-t2i --model "$P" --styles all --n 100 --guidance "${G:-3}" \
            --out $D/eval_style_words_$TAG.json ;;
  sref-tune) .venv/bin/difflab eval-t2i --model "$P" --style-refs $REFS --style-method shared \
            --style-weight "${W:-1}" --n 30 --prompt-seed 12345 --guidance "${G:-3}" \
            --out $D/tune_sref_shared_w${W:-1}_$TAG.json ;;
  sref-adapter-tune) .venv/bin/difflab eval-t2i --model "$P" --style-refs $REFS --style-method adapter \
            --style-adapter "$A" --style-weight "${W:-1}" --n 30 --prompt-seed 12345 --guidance "${G:-3}" \
            --out $D/tune_sref_adapter_w${W:-1}_$TAG.json ;;
  sref-adapter-report) .venv/bin/difflab eval-t2i --model "$P" --style-refs $REFS --style-method adapter \
            --style-adapter "$A" --style-weight "${W:-1}" --n 100 --guidance "${G:-3}" \
            --out $D/eval_sref_adapter_w${W:-1}_$TAG.json ;;
  *) echo "usage: [R=RUN TAG=TAG] bash evaluate.sh tune|report|sref-tune|sref-adapter-tune|sref-adapter-report" >&2; exit 2 ;;
esac

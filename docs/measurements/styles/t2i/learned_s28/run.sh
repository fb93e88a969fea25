# Issue 20, session 28: the learned style on the committed pipeline, tuning prompts (seed 7, n = 100), one JSON per row
# of docs/styles.md section 6 ("Convolutions too"). About 2 minutes each (alone on the 2-core CPU).
cd "$(git rev-parse --show-toplevel)"
run() { tag=$1; steps=$2; shift 2
  PYTHONPATH=src .venv/bin/python docs/measurements/styles/learned_style.py dotted dotsy 20 $steps 100 7 \
    --model src/difflab/assets/shapes-t2i-styles --out docs/measurements/styles/t2i/learned_s28/tune7_$tag.json "$@"; }
P='"prior_images": 100, "prior_stream": 100'
# DreamBooth's class noun (captions and prompts say "dotsy striped", the prior images are the base's own in striped
# style); the base drawing the layout in striped style above sigma_s; LoRA ranks 8 and 16; a first-order sampler
# (the single-object figure only: the run was stopped before its pairs)
run class_striped 300 --style-sigma 0.5 --options "{$P}" --class-word striped
run layout_striped 300 --style-sigma 0.5 --options "{$P}" --layout-word striped
run r8 300 --style-sigma 0.5 --options "{$P, \"rank\": 8}"
run r16 300 --style-sigma 0.5 --options "{$P, \"rank\": 16}"
run ddim 300 --style-sigma 0.5 --options "{$P}" --sampling '{"sampler": "ddim"}'
# which layers: the cross-attention and the residual blocks' convolutions (conv), and self-attention (attn)
run conv 300 --style-sigma 0.5 --options "{$P, \"layers\": \"q_x,kv_x,proj_x,conv1,conv2\"}"
run attn 300 --style-sigma 0.5 --options "{$P, \"layers\": \"q_x,kv_x,proj_x,qkv,proj\"}"
run conv_s600 600 --style-sigma 0.5 --options "{$P, \"layers\": \"q_x,kv_x,proj_x,conv1,conv2\"}"
run conv_s1200 1200 --style-sigma 0.5 --options "{$P, \"layers\": \"q_x,kv_x,proj_x,conv1,conv2\"}"
run convonly_s600 600 --style-sigma 0.5 --options "{$P, \"layers\": \"conv1,conv2\"}"
run conv_pw3_s600 600 --style-sigma 0.5 --options "{$P, \"prior_weight\": 3, \"layers\": \"q_x,kv_x,proj_x,conv1,conv2\"}"
run conv_sigma1_s600 600 --style-sigma 1 --options "{$P, \"layers\": \"q_x,kv_x,proj_x,conv1,conv2\"}"
run convattn_s600 600 --style-sigma 0.5 --options "{$P, \"layers\": \"q_x,kv_x,proj_x,qkv,proj,conv1,conv2\"}"
# the convolutions with the text's keys and values only; the chosen recipe at half the learning rate, twice the steps
run kvconv_pw3_s600 600 --style-sigma 0.5 --options "{$P, \"prior_weight\": 3, \"layers\": \"kv_x,conv1,conv2\"}"
run conv_pw3_lr5e-4_s1200 1200 --style-sigma 0.5 --options "{$P, \"prior_weight\": 3, \"layers\": \"conv\", \"lr\": 5e-4}"
# the chosen recipe with guidance from the base network's unconditional output
run conv_pw3_s600_nullbase 600 --style-sigma 0.5 --null-base --options "{$P, \"prior_weight\": 3, \"layers\": \"conv\"}"
# the style adapter's tokens inverted from the examples (textual inversion in the adapter's token space)
tok() { tag=$1; shift
  PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/learned_s28/tokens.py dotted 20 300 100 7 "$@" \
    --out docs/measurements/styles/t2i/learned_s28/tokens_tune7_$tag.json; }
tok lr0.01
tok s0.5 --sigma 0.5
tok s1 --sigma 1
tok lr0.003 --lr 0.003
# held out (EVAL_SEED's prompts, seed 1), run once with the recipe chosen above (the library's default since session 28)
PYTHONPATH=src .venv/bin/python docs/measurements/styles/learned_style.py dotted dotsy 20 600 100 1 \
  --model src/difflab/assets/shapes-t2i-styles --style-sigma 0.5 --options "{$P, \"prior_weight\": 3, \"layers\": \"q_x,kv_x,proj_x,conv1,conv2\"}" \
  --out docs/measurements/styles/t2i/learned_s28_report_conv.json

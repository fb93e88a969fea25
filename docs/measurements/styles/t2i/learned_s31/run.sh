# Issue 20, session 31: the learned style with the prompt's colours kept (difflab.colour.keep_hue: the styled image's
# lightness and saturation, the hue of the same prompt and seed drawn without the style), docs/styles.md section 6
# ("Keeping the prompt's colours"). One JSON per row; each judges the styled images as they come ("styled_*") and with
# the hue kept, for each blur in --hue-from-base ("hued_PX"). About 2-3 minutes each alone on the 2-core CPU.
# (The sigma 0.5 rows were written before the script recorded every check of the hued images: their hued_PX hold
# style / content / all only.)
cd "$(git rev-parse --show-toplevel)"
run() { seed=$1; tag=$2; steps=$3; shift 3
  PYTHONPATH=src .venv/bin/python docs/measurements/styles/learned_style.py dotted dotsy 20 $steps 100 $seed \
    --model src/difflab/assets/shapes-t2i-styles --options '{"prior_images": 100, "prior_stream": 100, "prior_weight": 3, "layers": "conv"}' \
    --out docs/measurements/styles/t2i/learned_s31/$tag.json "$@"; }
# tuning prompts (seeds 7 and 12345): session 28's recipe (600 steps, sigma_s 0.5), then the style from one level
# lower (sigma_s 0.3: on the 20-step grid the levels 0.401 and 0.275 lie either side, so 0.4 is the same run), then
# that with twice the steps
for seed in 12345 7; do run $seed tune${seed}_sigma0.5 600 --style-sigma 0.5 --hue-from-base 0.5 1.5 3; done
for seed in 7 12345; do run $seed tune${seed}_sigma0.3 600 --style-sigma 0.3 --hue-from-base 0.5 1.5; done
for seed in 7 12345; do run $seed tune${seed}_sigma0.3_s1200 1200 --style-sigma 0.3 --hue-from-base 1.5; done
# held out (EVAL_SEED's prompts), run once with the chosen recipe
run 1 report_sigma0.3_s1200 1200 --style-sigma 0.3 --hue-from-base 1.5
# the same, learned from another 20 examples (training-stream scenes 910,000 + i), run once after
run 1 report_sigma0.3_s1200_examples910000 1200 --style-sigma 0.3 --hue-from-base 1.5 --examples-from 910000

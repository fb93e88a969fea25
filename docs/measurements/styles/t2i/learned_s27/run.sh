# Issue 20, session 27: the learned style on the committed pipeline, tuning prompts (seed 7, n = 100), sigma_s 0.5;
# the library's recipe (base) against a style trained only where it acts (late05: train_style(style_sigma=0.5)),
# prior preservation weighted 3 (pw3; and 600 steps, pw3s600) and rank 1 (r1). About 1.5 minutes each.
cd "$(git rev-parse --show-toplevel)"
run() { tag=$1; steps=$2; opts=$3
  PYTHONPATH=src .venv/bin/python docs/measurements/styles/learned_style.py dotted dotsy 20 $steps 100 7 \
    --model src/difflab/assets/shapes-t2i-styles --options "$opts" --style-sigma 0.5 \
    --out docs/measurements/styles/t2i/learned_s27/tune7_$tag.json; }
run base 300 '{"prior_images": 100, "prior_stream": 100}'
run late05 300 '{"prior_images": 100, "prior_stream": 100, "style_sigma": 0.5}'
run pw3 300 '{"prior_images": 100, "prior_stream": 100, "prior_weight": 3}'
run pw3s600 600 '{"prior_images": 100, "prior_stream": 100, "prior_weight": 3}'
run r1 300 '{"prior_images": 100, "prior_stream": 100, "rank": 1}'

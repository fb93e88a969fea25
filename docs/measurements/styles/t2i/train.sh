# Issue 20: the styled text-to-image denoiser on the CPU (bf16) on the styled autoencoder's latents; dotted held out.
# Fine-tuned from the shipped denoiser (a 200-step pilot on 3,000 scenes: loss 0.27 from it against 0.49 from scratch,
# docs/measurements/styles/t2i/pilot_*.jsonl). Resumable: rerun with --resume to continue.
# --style-weights: outline and glow drawn twice as often, the two styles furthest behind on the *tuning* prompts
# at step 1,500 of session 17's run (probe_step1500_tuning.json: style 35% / 40% on single objects, the others 70-95%).

OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train t2i --autoencoder checkpoints/styles/autoencoder --out runs/styles/t2i \
  --init src/difflab/assets/shapes-t2i --styles flat,outline,striped,pixel,glow --scenes 40000 --object-weights 1,3,1 \
  --style-weights outline=2,glow=2 --batch-size 128 --lr 5e-4 --warmup 100 --ema-half-life 100000 --steps 4000 \
  --precision bf16 --workers 2 --checkpoint-every 250 "$@"

# Issue 20, session 20: the styled denoiser of train.sh continued for 3,000 more steps (fine-tuned from its EMA weights).
# --style-weights chosen on the *tuning* prompts of that run (tune_style_words_s19.json, guidance 3, n = 30): glow
# (33% / 47% style, single / pair) furthest behind, then pixel (83% / 93%) and outline (87% / 97%); flat 1.5 holds the
# unstyled prompts' share of the data (a flat scene's caption names no style 75% of the time).
# The caches of train.sh's run folder can be copied into the new one (same scenes, same encoder) to skip rebuilding them.
# Resumable: rerun with --resume to continue.

OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train t2i --autoencoder checkpoints/styles/autoencoder --out runs/styles/t2i_b \
  --init runs/styles/t2i --styles flat,outline,striped,pixel,glow --scenes 40000 --object-weights 1,3,1 \
  --style-weights flat=1.5,outline=1.5,pixel=1.5,glow=3 --batch-size 128 --lr 3e-4 --warmup 50 --ema-half-life 100000 \
  --steps 3000 --precision bf16 --workers 2 --checkpoint-every 250 "$@"

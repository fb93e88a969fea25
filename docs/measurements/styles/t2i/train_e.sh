# Issue 20, session 26: the committed styled denoiser (session 25's train_d.sh run, float16 EMA weights) fine-tuned
# 3,000 more steps by the same recipe as train_c.sh and train_d.sh (style, object and background weights as train_c.sh), for the content of styled
# prompts (held out 92.4% against 98.0% unstyled; tuning 92.6% against 98.0%). Kept only if the tuning prompts say so.
# Resumable: rerun with --resume to continue.

OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train t2i --autoencoder checkpoints/styles/autoencoder --out runs/styles/t2i_e \
  --init src/difflab/assets/shapes-t2i-styles --styles flat,outline,striped,pixel,glow --scenes 40000 --object-weights 1,3,1 \
  --style-weights flat=1.5,outline=1.5,pixel=1.5,glow=3 --background-weights black=1.4,white=2.1 --batch-size 128 \
  --lr 3e-4 --warmup 50 --ema-half-life 100000 --steps 3000 --precision bf16 --workers 2 --checkpoint-every 250 "$@"

# Issue 20, session 25: the committed styled denoiser (session 24's train_c.sh run, float16 EMA weights) fine-tuned
# 3,000 more steps by the same recipe (style, object and background weights as train_c.sh), for the content of styled
# prompts (held out 89.2% against 95.0% unstyled; tuning 92.0% against 96.7%). Kept only if the tuning prompts say so.
# Resumable: rerun with --resume to continue.

OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train t2i --autoencoder checkpoints/styles/autoencoder --out runs/styles/t2i_d \
  --init src/difflab/assets/shapes-t2i-styles --styles flat,outline,striped,pixel,glow --scenes 40000 --object-weights 1,3,1 \
  --style-weights flat=1.5,outline=1.5,pixel=1.5,glow=3 --background-weights black=1.4,white=2.1 --batch-size 128 \
  --lr 3e-4 --warmup 50 --ema-half-life 100000 --steps 3000 --precision bf16 --workers 2 --checkpoint-every 250 "$@"

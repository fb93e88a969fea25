# Issue 19, session 30: the shipped unCLIP pipeline's decoder trained 3,000 steps more with the caption dropped
# 90% of the time (its recipe drops it 50%), so that more of the training is the embedding-alone decoding that
# variations and interpolations use; otherwise the recipe of decoder_s28b (batch 128, lr 3e-4, embedding dropped
# 10%), from its EMA weights, with a fresh data seed. Resumable (--resume).
OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train decoder --clip src/difflab/assets/shapes-unclip/clip \
  --init src/difflab/assets/shapes-unclip --out runs/unclip/decoder_s30 --steps 3000 --seed 4 --p-caption 0.9 \
  --workers 2 "$@"

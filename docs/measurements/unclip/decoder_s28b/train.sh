# Issue 19, session 28 (second run): the shipped unCLIP pipeline's decoder trained 3,000 steps more by its own recipe (batch 128,
# lr 3e-4, caption dropped 50%, embedding 10%), from its EMA weights, with a fresh data seed. Resumable (--resume).
OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train decoder --clip src/difflab/assets/shapes-unclip/clip \
  --init src/difflab/assets/shapes-unclip --out runs/unclip/decoder_s28b --steps 3000 --seed 3 --workers 2 "$@"

# Issue 19, session 30 (second run): train.sh's decoder, assembled into /tmp/unclip_s30 by decoder_s27/assemble.py,
# trained 3,000 steps more by the same recipe (caption dropped 90%), with a fresh data seed. Resumable (--resume).
OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train decoder --clip /tmp/unclip_s30/clip \
  --init /tmp/unclip_s30 --out runs/unclip/decoder_s30b --steps 3000 --seed 5 --p-caption 0.9 \
  --workers 2 "$@"

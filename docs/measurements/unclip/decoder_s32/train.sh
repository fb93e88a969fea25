# Issue 19, session 32: the shipped unCLIP pipeline's decoder trained 3,000 steps more with its training noise levels
# drawn from SD3's logit-normal density (log-SNR ~ N(0, 2^2), so sigma within a factor e of the latents' scale 1 for
# two thirds of the steps, against about a third for the DDPM table's uniform index): more of the steps at the levels
# where an image's layout and its colours are decided, where variations lose the binding of two- and three-object
# scenes. Otherwise the recipe of decoder_s30 (caption dropped 90%, batch 128, lr 3e-4), a fresh data seed; its
# control is decoder_s30/train_b.sh (the same 3,000 steps from the same decoder, uniform levels). Resumable (--resume).
OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train decoder --clip src/difflab/assets/shapes-unclip/clip \
  --init src/difflab/assets/shapes-unclip --out runs/unclip/decoder_s32 --steps 3000 --seed 6 --p-caption 0.9 \
  --t-sampling logit-normal --workers 2 "$@"

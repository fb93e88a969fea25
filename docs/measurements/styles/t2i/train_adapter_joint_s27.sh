# Issue 20, session 27: a joint adapter (the reference's tokens join the prompt's in each cross-attention layer) on the
# committed styled pipeline, from scratch: 2,000 steps of the style-word target where a reference acts (sigma <= 2.5).
# 18 minutes alone on the 2-core CPU, loss 0.0126 at the end. Resumable (--resume).
OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train style-adapter --model src/difflab/assets/shapes-t2i-styles \
  --out runs/styles/adapter_joint_s27 --attention joint \
  --styles flat,outline,striped,pixel,glow --steps 2000 --batch-size 64 --precision bf16 --workers 2 \
  --target style-word --style-sigma 2.5 "$@"

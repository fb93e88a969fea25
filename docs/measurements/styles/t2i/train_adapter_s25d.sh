# Issue 20, session 25: the style adapter follows the denoiser of train_d.sh (P: that run exported in float16 with the
# committed autoencoder, as evaluate.sh does): the committed adapter (train_adapter_s25.sh) 1,500 more steps on it,
# only where a reference acts (sigma <= 2.5). Resumable (--resume).
P=${P:-/tmp/t2i_d}  # that folder is src/difflab/assets/shapes-t2i-styles now, less its adapter
OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train style-adapter --model "$P" \
  --init src/difflab/assets/shapes-t2i-styles/style_adapter.safetensors --out runs/styles/adapter_s25d \
  --styles flat,outline,striped,pixel,glow --steps 1500 --lr 3e-4 --batch-size 64 --precision bf16 --workers 2 \
  --target style-word --style-sigma 2.5 "$@"

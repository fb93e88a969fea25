# Issue 20, session 25: the committed style adapter (session 24's, float16) trained 1,500 more steps only where its
# reference acts by default (sigma <= REFERENCE_STYLE_SIGMA = 2.5, chosen on the tuning prompts with the adapter
# unchanged; docs/styles.md section 7): the same recipe as session 24's continuation otherwise. Resumable (--resume).

OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train style-adapter --model src/difflab/assets/shapes-t2i-styles \
  --init src/difflab/assets/shapes-t2i-styles/style_adapter.safetensors --out runs/styles/adapter_s25 \
  --styles flat,outline,striped,pixel,glow --steps 1500 --lr 3e-4 --batch-size 64 --precision bf16 --workers 2 \
  --target style-word --style-sigma 2.5 "$@"

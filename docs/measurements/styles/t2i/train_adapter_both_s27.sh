# Issue 20, session 27: a style adapter with both pathways (--attention both): the committed decoupled adapter and a
# joint adapter trained on the same pipeline (train_adapter_joint_s27.sh) start it as their sum, then 1,500 steps of
# the style-word target where a reference acts (sigma <= 2.5). 17 minutes alone on the 2-core CPU, loss 0.029 at the
# start, 0.0054 at the end. Its result (float16, scripts/export_fp16.py) is the committed adapter since; the decoupled
# one it started from is the one committed before (47afc21). Resumable (--resume).
D=${D:-/tmp/decoupled_s26.safetensors}
[ -f "$D" ] || git show 47afc21:src/difflab/assets/shapes-t2i-styles/style_adapter.safetensors > "$D"
OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train style-adapter --model src/difflab/assets/shapes-t2i-styles \
  --init "$D" runs/styles/adapter_joint_s27/style_adapter.safetensors \
  --out runs/styles/adapter_both_s27 \
  --styles flat,outline,striped,pixel,glow --steps 1500 --lr 3e-4 --batch-size 64 --precision bf16 --workers 2 \
  --target style-word --style-sigma 2.5 "$@"

# Issue 20, session 27: a style adapter with both pathways (--attention both): the committed decoupled adapter and a
# joint adapter trained on the same pipeline (train_adapter_joint_s27.sh) start it as their sum, then 1,500 steps of
# the style-word target where a reference acts (sigma <= 2.5). Resumable (--resume).
OMP_WAIT_POLICY=PASSIVE .venv/bin/difflab train style-adapter --model checkpoints/styles/t2i \
  --init checkpoints/styles/t2i/style_adapter.safetensors runs/styles/adapter_joint_s27/style_adapter.safetensors \
  --out runs/styles/adapter_both_s27 \
  --styles flat,outline,striped,pixel,glow --steps 1500 --lr 3e-4 --batch-size 64 --precision bf16 --workers 2 \
  --target style-word --style-sigma 2.5 "$@"

# pilot: init from the shipped denoiser vs scratch, same data, 200 steps each (losses in log)
# (run from the repository root; runs/styles/ae32_step8500: the styled autoencoder at step 8,500, config and model only)

for kind in init scratch; do
  if [ $kind = init ]; then X="--init src/difflab/assets/shapes-t2i"; else X="--channels 64 --channel-mult 1,2 --num-res-blocks 2"; fi
  mkdir -p runs/pilot/pilot_$kind
  [ -f runs/pilot/pilot_init/captions.safetensors ] && cp -n runs/pilot/pilot_init/captions.safetensors runs/pilot/pilot_$kind/ 2>/dev/null
  OMP_NUM_THREADS=1 .venv/bin/difflab train t2i --autoencoder runs/styles/ae32_step8500 --out runs/pilot/pilot_$kind \
    --styles flat,outline,striped,pixel,glow --scenes 3000 $X --batch-size 64 --lr 5e-4 --warmup 30 --steps 200 \
    --precision bf16 --workers 1 --checkpoint-every 200 --quiet --overwrite
  echo "done $kind $(date)"
done

#!/usr/bin/env bash
# No behaviour change: run the README's kinds of commands (sampling, editing, upscaling,
# evaluation, generation, every trainer on a few steps) with the source of revision REV
# and with the working tree, on the same inputs and seeds, and compare every output file
# byte for byte (JSON reports without their timings).
#   bash scripts/compare_outputs.sh REV [OUT]      (about 6 minutes on 2 cores)
set -e
REV=${1:?usage: scripts/compare_outputs.sh REV [OUT]}
OUT=${2:-/tmp/difflab-compare}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OLD=$OUT/src-$REV
rm -rf "$OUT"; mkdir -p "$OUT/old" "$OUT/new"
git -C "$ROOT" worktree add --detach "$OLD" "$REV" >/dev/null
trap 'git -C "$ROOT" worktree remove --force "$OLD"' EXIT
PY=$ROOT/.venv/bin/python
export OMP_NUM_THREADS=2
M=$OUT/model
PYTHONPATH=$ROOT/src $PY -c "from difflab.cli import main; main(['train','image','--data','digits','--steps','30','--channels','16','--batch-size','16','--out','$M','--quiet'])" >/dev/null 2>&1
OUT=$OUT $PY - <<'PY'
import os
import numpy as np
from PIL import Image
im = np.random.default_rng(0).integers(0, 255, (8, 8), dtype=np.uint8)
Image.fromarray(im).save(os.environ["OUT"] + "/in.png")
m = np.zeros((8, 8), np.uint8); m[:, 4:] = 255
Image.fromarray(m).save(os.environ["OUT"] + "/mask.png")
rgb = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
Image.fromarray(rgb).save(os.environ["OUT"] + "/rgb.png")
m = np.zeros((64, 64), np.uint8); m[16:48, 16:48] = 255
Image.fromarray(m).save(os.environ["OUT"] + "/mask64.png")
Image.fromarray(rgb[:20, :24]).save(os.environ["OUT"] + "/small.png")
PY
for side in old new; do
  if [ $side = old ]; then export PYTHONPATH=$OLD/src; else export PYTHONPATH=$ROOT/src; fi
  D=$OUT/$side
  run() { $PY -c "import sys; from difflab.cli import main; sys.exit(main(sys.argv[1:]))" "$@" > $D/log.$1.$RANDOM.txt 2>&1 || echo "FAILED $side: $*"; }
  run sample $M --steps 5 -n 12 --out $D/sample.png --save-npy $D/sample.npy
  run sample $M --steps 5 -n 4 --label 3 --sampler ddpm --out $D/sample3.png --save-npy $D/sample3.npy
  run show reverse $M --steps 6 -n 4 --out $D/rev.png --gif $D/rev.gif
  run inpaint --model $M --image $OUT/in.png --mask $OUT/mask.png --steps 6 --resample 2 --jump-length 2 -n 2 --out $D/inp.png
  run inpaint --model $M --image $OUT/in.png --mask $OUT/mask.png --steps 6 --method replace --label 4 --out $D/inp_rep.png
  run inpaint --model $M --image $OUT/in.png --mask $OUT/mask.png --steps 4 --resample 1 --label auto --out $D/inp_auto.png
  run img2img --model $M --image $OUT/in.png --steps 6 --strength 0.5 --label 2 -n 2 --out $D/i2i.png
  run inpaint --image $OUT/rgb.png --mask $OUT/mask64.png --prompt "a red circle" --steps 6 --resample 2 --jump-length 2 --out $D/t2i_inp.png
  run img2img --image $OUT/rgb.png --prompt "a blue square" --steps 6 --strength 0.5 --out $D/t2i_i2i.png
  run upscale $OUT/small.png --out $D/up.png
  run eval $M -n 20 --steps 3 --out $D/eval.json
  run eval-inpaint $M -n 6 --steps 3 --resample 1 --out $D/evinp.json
  run generate "a red circle" --steps 4 -n 2 --out $D/gen
  run train toy --data moons --steps 30 --batch-size 64 --out $D/toy --quiet
  run train toy --data 8gaussians --schedule ve --objective dsm --steps 20 --batch-size 64 --out $D/toyve --quiet
  run show forward --data moons --schedule ddpm-cosine --out $D/fwd.png
  run train image --data digits --steps 6 --channels 16 --batch-size 8 --schedule linear --out $D/img --quiet
  run train superres --steps 3 --batch-size 2 --out $D/sr
  run train autoencoder --size 16 --steps 4 --batch-size 2 --lr 1e-3 --checkpoint-every 2 --channels 8 --out $D/ae --quiet
  run train t2i --autoencoder $D/ae --text-encoder hashing --scenes 8 --steps 3 --batch-size 4 --channels 16 --out $D/t2i --quiet
done
cd $OUT
for f in $(cd old && find . -type f ! -name 'log.*' ! -name '*.jsonl' ! -name 'loss.png' ! -name '*.lock' ! -name 'checkpoint.safetensors' | sort); do
  if cmp -s old/$f new/$f; then echo "same $f";
  elif [[ $f == *.json ]] && $PY -c "
import json,sys
def strip(o):
    if isinstance(o, dict): return {k: strip(v) for k, v in o.items() if k not in ('seconds', 'time', 'model', 'autoencoder')}
    if isinstance(o, list): return [strip(v) for v in o]
    return o
a, b = (strip(json.load(open(x))) for x in sys.argv[1:])
sys.exit(a != b)" old/$f new/$f; then echo "same $f (but timings)"; else echo "DIFF $f"; fi
done

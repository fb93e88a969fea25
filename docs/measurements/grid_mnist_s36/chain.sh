# Issue 17, session 36: the MNIST-5k model's grids at 5 and 10 steps, fixed rules against grids tuned
# for the model by `difflab tune-grid --against data` (FD to the training split, calibration noise of
# seeds 200000+).
# Reporting: `difflab eval` on sample seeds 100000-100999 against the 500 held-out images (never read
# by the tuning). Every step is skipped when its output exists (resumable).
#   PYTHONPATH=src .venv/bin/python benchmarks/time_to_quality.py train difflab-cond --out runs/s36/ttq --seed 1
#   M=runs/s36/ttq/difflab-cond/snap-15min OUT=docs/measurements/grid_mnist_s36 bash docs/measurements/grid_mnist_s36/chain.sh
# Session 36: a first 5-step search of one sweep from the rule's grid alone (tune-data-s36-5steps-1sweep.log: no trial
# position beat it) came before the search started from the best fixed rule too; the run reported is this script's.
set -x
cd "$(dirname "$0")/../../.."   # the repository root
M=${M:?the model folder}
O=${OUT:-.}
N=${N:-500}         # calibration batch of the data objective
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
ev() {  # ev MODEL OUTPUT [eval options]
  [ -f "$2" ] || .venv/bin/difflab eval "$1" -n 1000 --sampler unipc --guidance 1 --seed 100000 --no-fid --quiet --out "$2" "${@:3}"
}
for n in 5 10; do for sp in trailing karras log-snr tuned; do
  ev $M $O/fixed-$sp-$n.json --steps $n --spacing $sp
done; done
D=${D:-runs/s36/model-data}   # a copy of the model that receives the data-tuned grids (outside docs/)
[ -d $D ] || { mkdir -p $D && cp -r $M/. $D/ && rm -f $D/grids.json; }
for n in 5 10; do
  [ $n = 5 ] && sweeps=${SWEEPS5:-3} || sweeps=${SWEEPS10:-2}
  if [ ! -f $O/tune-data-$n.log ]; then
    .venv/bin/difflab tune-grid $D --nfe $n -n $N --seed 200000 --guidance 1 --sweeps $sweeps --against data \
      > $O/tune-data-$n.log.part 2>&1 && mv $O/tune-data-$n.log.part $O/tune-data-$n.log || exit 1
  fi
  cp $D/grids.json $O/grids-data.json
  ev $D $O/data-$n.json --steps $n
done
touch $O/done

# Issue 17, session 37: the MNIST-5k model's grids tuned by `difflab tune-grid --against data` with the
# cross-fitted score (the mean over the 9 tuning folds of the training split of the FD to the fold, each in a
# classifier of the rest) on 1000 calibration samples (seeds 200000+), against the fixed rules.
# Reporting: `difflab eval` against the 500 held-out images (never read by the tuning) on the report's seeds
# 100000-100999 (session 36's fixed-rule figures, grid_mnist_s36/fixed-*.json) and on a fresh range,
# 300000-300999, for every grid. Every step is skipped when its output exists (resumable).
# Session 37 ran the 10-step search and its report (the first search scored unclipped samples:
# tune-data-10-unclamped.log, data-10-unclamped.json), then the fresh-range evaluations at 10 steps of the
# data-tuned grid and of trailing, log-snr and tuned by the same `difflab eval` line; session 38 resumed it
# (SWEEPS5 default 2): the 5-step search and the remaining evaluations.
#   PYTHONPATH=src .venv/bin/python benchmarks/time_to_quality.py train difflab-cond --out runs/s36/ttq --seed 1
#   M=runs/s36/ttq/difflab-cond/snap-15min OUT=docs/measurements/grid_mnist_s37 bash docs/measurements/grid_mnist_s37/chain.sh
set -x
cd "$(dirname "$0")/../../.."   # the repository root
M=${M:?the model folder}
O=${OUT:-.}
N=${N:-1000}        # calibration batch of the data objective
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
ev() {  # ev MODEL OUTPUT SEED [eval options]
  [ -f "$2" ] || .venv/bin/difflab eval "$1" -n 1000 --sampler unipc --guidance 1 --seed $3 --no-fid --quiet --out "$2" "${@:4}"
}
D=${D:-runs/s37/model-data}   # a copy of the model that receives the data-tuned grids (outside docs/)
[ -d $D ] || { mkdir -p $D && cp -r $M/. $D/ && rm -f $D/grids.json; }
for n in 10 5; do
  [ $n = 5 ] && sweeps=${SWEEPS5:-2} || sweeps=${SWEEPS10:-1}
  if [ ! -f $O/tune-data-$n.log ]; then
    .venv/bin/difflab tune-grid $D --nfe $n -n $N --seed 200000 --guidance 1 --sweeps $sweeps --against data \
      > $O/tune-data-$n.log.part 2>&1 && mv $O/tune-data-$n.log.part $O/tune-data-$n.log || exit 1
  fi
  cp $D/grids.json $O/grids-data.json
  ev $D $O/data-$n.json 100000 --steps $n
done
for n in 10 5; do
  ev $D $O/fresh-data-$n.json 300000 --steps $n
  for sp in trailing karras log-snr tuned; do
    ev $M $O/fresh-fixed-$sp-$n.json 300000 --steps $n --spacing $sp
  done
done
touch $O/done

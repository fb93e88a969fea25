set -x
cd "$(dirname "$0")/../../.."   # the repository root
M=${M:?the model folder}
O=${OUT:-.}
export OMP_NUM_THREADS=1
for n in 5 10; do for sp in trailing karras log-snr tuned; do
  .venv/bin/difflab eval $M -n 1000 --sampler unipc --steps $n --spacing $sp --guidance 1 --seed 100000 --no-fid --quiet --out $O/fixed-$sp-$n.json
done; done
.venv/bin/difflab tune-grid $M --nfe 5 10 -n 64 --guidance 1 --sweeps 4 > $O/tune.log 2>&1
for n in 5 10; do
  .venv/bin/difflab eval $M -n 1000 --sampler unipc --steps $n --guidance 1 --seed 100000 --no-fid --quiet --out $O/optimized-$n.json
done
touch $O/done
# M: the 15-minute snapshot of `benchmarks/time_to_quality.py train difflab-cond --seed 1` on the AMX machine; also: difflab eval $M -n 1000 --sampler unipc --steps 50 --spacing tuned --guidance 1 --seed 100000 --no-fid --out fixed-tuned-50.json

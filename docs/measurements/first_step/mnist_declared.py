"""MNIST FD per tuned grid from given data figures (issue 17, session 23): argv MODEL SEED STEPS LABEL:SIGMA_DATA:DIM:SIZE ...
MODEL: `benchmarks/time_to_quality.py train difflab-cond --seed 1 --minutes 15` (stopped at its 7.7-minute, 2170-step
snapshot); tuning sample seeds 200000.. (mnist_declared_tuning.txt): old:1:1:1 data:0.519:30.2:784 sd1top11:1:8.14:8.14"""
import sys, json, torch
from difflab.evaluate.images import evaluate_image_model
from difflab.grids import tuned_grid
from difflab.io.folders import load_model
torch.set_num_threads(2)
M, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
den, _ = load_model(M)
smax, smin = float(den.schedule.ve_sigma_max), float(den.schedule.ve_sigma_min)
for spec in sys.argv[4:]:
    label, sd, dim, size = spec.split(':')
    sd, dim, size = float(sd), float(dim), float(size)
    g = tuned_grid(smax, steps, smin, sd, dim, size)
    r = evaluate_image_model(M, n=1000, sampler='unipc', steps=steps, guidance=1.0, seed=seed, fid=False,
                             progress=False, sigmas=g, sigma_data=sd)
    print(json.dumps({'label': label, 'steps': steps, 'seed': seed, 'top': round(float(g[1]), 2),
                      'fd': round(r['fd'], 2), 'acc': r['classifier_accuracy']}), flush=True)

"""Background split and judge faithfulness of a text-to-image folder per first grid level (the grid rule
with its first level forced): argv FOLDER|- N GUIDANCE STEPS,.. LEVELS,.. (or default / trailing / karras).
Tuning prompts (--prompt-seed 12345), seed 0. Session 23: - 150 1|3 10,20 default,4,8,16,32,64,128,trailing
(top_level_t2i_tuning.txt)."""
import collections, sys, json, time
import torch
from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_pixels import as_uint8, background
from difflab.metrics.shapes_judge import judge_batch
from difflab.grids import tuned_grid
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path

torch.set_num_threads(2)
pipe = TextToImagePipeline.load(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != '-' else shipped_model_path())
n = int(sys.argv[2]); guidance = float(sys.argv[3]); steps_list = [int(s) for s in sys.argv[4].split(',')]
tops = [t for t in sys.argv[5].split(',')]
sched = pipe.denoiser.schedule if hasattr(pipe.denoiser, 'schedule') else None
print('latent', pipe.latent_shape, flush=True)
items = {k: eval_prompts(n, k, 12345) for k in ('single', 'pair')}
for steps in steps_list:
    for top in tops:
        kw = {'steps': steps}
        if top == 'default':
            pass
        elif top in ('trailing', 'karras', 'log-snr'):
            kw['spacing'] = top
        else:
            T = float(top)
            smax = float(pipe.denoiser.schedule.ve_sigma_max); smin = float(pipe.denoiser.schedule.ve_sigma_min)
            d = (T / 4) ** 2
            kw['sigmas'] = tuned_grid(smax, steps, smin, 1.0, d, d)
        t0 = time.time(); row = {'steps': steps, 'top': top}
        bg = collections.Counter()
        for kind, it in items.items():
            imgs = pipe([p for p, _ in it], seed=0, output='tensor', guidance=guidance, **kw)
            bg.update(background(as_uint8(x))[1] for x in imgs)
            row[kind] = round(judge_batch(imgs, [a for _, a in it])['all'], 3)
        row.update({k: bg[k] for k in ('black', 'gray', 'white')}, sec=round(time.time() - t0))
        print(json.dumps(row), flush=True)

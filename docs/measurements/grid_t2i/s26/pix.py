"""Issue 17, session 26: how the per-sample distance to the 50-step solve is spread, in latents and in decoded
pixels, and where the judge's flips fall in it (reads runs/s26/tune400.npz written by paired.py). Output: pix.txt."""
import numpy as np, torch
from difflab.pipelines.text_to_image import TextToImagePipeline, shipped_model_path
pipe = TextToImagePipeline.load(shipped_model_path())
r = np.load('runs/s26/tune400.npz')
lat = r['ref50_z']
for nm in ['s20', 's10', 's10rule', 's10dpm']:
    d = ((r[nm + '_z'] - lat) ** 2).reshape(len(lat), -1).mean(1)
    print(f"latent {nm}: share of the mean held by the 5% farthest samples {np.sort(d)[::-1][:len(d) // 20].sum() / d.sum():.2f}")
    if nm == 's10':
        rank = d.argsort().argsort() / len(d)
        print("latent s10: quantiles of the single-object colour flips", [(i, round(float(rank[i]), 2)) for i in [197, 232, 243, 262, 316]])
print("pixels:")
dec = lambda z: torch.cat([pipe.decode(torch.tensor(z[i:i+200])) for i in range(0, len(z), 200)]).numpy()
ref = dec(r['ref50_z'])
for nm in ['s20', 's10', 's10rule', 's10dpm']:
    x = dec(r[nm + '_z'])
    d = ((x - ref) ** 2).reshape(len(ref), -1).mean(1)
    rank = d.argsort().argsort() / len(d)
    flips = np.nonzero(r[nm + '_all'] != r['ref50_all'])[0]
    print(nm, 'mean %.4f median %.5f trimmed90 %.5f' % (d.mean(), np.median(d), np.sort(d)[:int(.9 * len(d))].mean()),
          'flip quantiles median %.2f' % np.median(rank[flips]), 'flips in top 10%%: %d/%d' % ((rank[flips] > .9).sum(), len(flips)))
    if nm == 's10': print([(i, round(float(rank[i]), 2)) for i in [11, 197, 232, 243, 262, 316, 340]])

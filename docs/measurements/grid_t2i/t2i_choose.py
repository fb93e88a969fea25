"""Tuning prompts (seed 12345): which 10-step grid under the guided order-2 rule, beside 20 steps."""
import sys, time
import torch
from difflab.pipelines.text_to_image import TextToImagePipeline
from difflab.data.shapes import eval_prompts
from difflab.metrics.shapes_judge import judge_batch
torch.set_num_threads(1)
N = int(sys.argv[1])
shipped = TextToImagePipeline.load(str(__import__("difflab.pipelines.text_to_image", fromlist=["x"]).shipped_model_path()))
tuned = TextToImagePipeline.load(sys.argv[3])
configs = [("20 steps (rule, order 2)", shipped, dict(steps=20)),
           ("10 steps, grid tuned for order 3 (shipped)", shipped, dict(steps=10)),
           ("10 steps, grid tuned for order 2", tuned, dict(steps=10)),
           ("10 steps, rule", shipped, dict(steps=10, spacing="tuned"))]
for kind in sys.argv[2].split(","):
    items = eval_prompts(N, kind, 12345)
    prompts, attrs = [p for p, _ in items], [a for _, a in items]
    for name, pipe, kw in configs:
        t = time.time()
        imgs = torch.cat([pipe(prompts[i:i + 100], seed=i, output="tensor", **kw) for i in range(0, N, 100)])
        j = judge_batch(imgs, attrs)
        print(kind, f"{name:45s}", f"all {j['all']:.4f} colour {j['colour']:.4f}", f"{time.time() - t:.0f}s", flush=True)

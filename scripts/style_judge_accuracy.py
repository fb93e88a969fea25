"""The style judge's and the content judge's accuracy on rendered held-out scenes (docs/styles.md, sec. 2).

    .venv/bin/python scripts/style_judge_accuracy.py [--start 100000] [-n 200]

The judges' thresholds were set on held-out scenes 0-59; the default range is one they never saw.
"""

import argparse
import dataclasses

import numpy as np
from scipy import ndimage

import difflab.data.shapes as S
from difflab.metrics.shapes_judge import judge
from difflab.metrics.style_judge import judge_styles


def degrade(img, rng, blur=0.5, noise=4.0):
    """Mild blur and noise, as tests/test_styles.py applies."""
    x = ndimage.gaussian_filter(img.astype(float), (blur, blur, 0)) + rng.normal(0, noise, img.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--start", type=int, default=100_000)
    p.add_argument("-n", type=int, default=200)
    args = p.parse_args()
    rng = np.random.default_rng(1)
    scenes = [S.make_scene(S.EVAL_SEED, i) for i in range(args.start, args.start + args.n)]
    styled = {st: [dataclasses.replace(sc, style=st) for sc in scenes] for st in S.RENDER_STYLES}
    print(f"style judge, held-out scenes {args.start}-{args.start + args.n - 1}:")
    for size in (64, 128):
        for degraded in (False, True):
            images, styles = [], []
            for st in S.RENDER_STYLES:
                for sc in styled[st]:
                    im = S.render(sc, size)
                    images.append(degrade(im, rng) if degraded else im)
                    styles.append(st)
            r = judge_styles(images, styles)
            cells = "  ".join(f"{s} {r[f'style_{s}']:.1%}" for s in S.RENDER_STYLES)
            print(f"  {size:>3} px {'blur+noise' if degraded else 'clean':>10}: {cells}")
    print("content judge at 64 px:")
    keys = ("count", "colour", "shape", "size", "position", "relation", "background", "style")
    for st in S.RENDER_STYLES:
        v = [judge(S.render(sc, 64), sc.attributes()) for sc in styled[st]]
        print(f"  {st:>8}: " + "  ".join(f"{k} {np.mean([x[k] for x in v if k in x]):.1%}" for k in keys))


if __name__ == "__main__":
    main()

"""Issue 19, session 33, tuning range only (held-out scenes 50,000 on; never reported): variations of the
shipped unCLIP pipeline, each the best of K decoded candidates by CLIP cosine to the source
(`UnCLIPPipeline.variations(candidates=K)`, the library's own path), N sources x 2, one JSON line per K: the
judge's objects kept, by the source's number of objects, the mean pixel difference to the source and between
the two variations of a source (of 255):

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/rerank_s33/variations.py N K [...]
"""
import json
import sys

import torch

from difflab.evaluate.unclip import TUNING_START, evaluate_variations
from difflab.pipelines.unclip import UnCLIPPipeline

torch.set_num_threads(2)
pipe = UnCLIPPipeline.shipped()
for k in (int(a) for a in sys.argv[2:]):
    v = evaluate_variations(pipe, int(sys.argv[1]), start=TUNING_START, candidates=k)
    print(json.dumps({"candidates": k, "kept": {key: round(v["kept"][key], 3) for key in ("all", "colour", "shape", "count")},
                      "kept_by_objects": {int(m): round(x, 3) for m, x in v["kept_by_objects"].items()},
                      "pixel_difference": round(v["pixel_difference"], 2),
                      "pair_difference": round(v["pair_difference"], 2)}), flush=True)

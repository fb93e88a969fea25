"""Issue 20, session 27: the adapter of both pathways before any training, the sum of a decoupled and a joint adapter
(StyleAdapter.both), saved as is: B0 of adapter_distance_late_s27.txt.

    PYTHONPATH=src .venv/bin/python docs/measurements/styles/t2i/both_start.py DECOUPLED JOINT OUT
"""
import sys
from difflab.nets.lora import fingerprint
from difflab.nets.style_adapter import StyleAdapter
from difflab.pipelines.style_adapter import load_style_adapter, save_style_adapter
from difflab.pipelines.text_to_image import TextToImagePipeline
pipe = TextToImagePipeline.load("src/difflab/assets/shapes-t2i-styles")
net = pipe.denoiser.net
d, _ = load_style_adapter(sys.argv[1], net); j, _ = load_style_adapter(sys.argv[2], net)
save_style_adapter(sys.argv[3], StyleAdapter.both(net, d, j), fingerprint(net), {"note": "sum of two, untrained"})

"""Issue 19, session 27: the shipped unCLIP pipeline with another decoder (its encoder, prior and defaults), in float16
as shipped.   PYTHONPATH=src .venv/bin/python docs/measurements/unclip/decoder_s27/assemble.py DECODER OUT"""
import json, sys
import torch
from difflab.pipelines.unclip import shipped_unclip_path
from difflab.pipelines.unclip_training import assemble_unclip

shipped = shipped_unclip_path()
defaults = json.loads((shipped / "pipeline.json").read_text())["defaults"]
print(assemble_unclip(shipped / "clip", shipped / "prior", sys.argv[1], sys.argv[2], defaults=defaults,
                      dtype=torch.float16))

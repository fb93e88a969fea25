"""Issue 19, session 30: put the decoder of the last of some assembled pipelines (decoder_s27/assemble.py), each trained
from the one before and the first from the shipped pipeline, into the shipped unCLIP folder. The shipped pipeline.json
is kept, with its decoder's training record replaced by the runs' records, each continued_from the one before and the
first continued_from the shipped decoder's record.

    PYTHONPATH=src .venv/bin/python docs/measurements/unclip/decoder_s30/ship.py SCRIPT:ASSEMBLED [SCRIPT:ASSEMBLED ...]

SCRIPT is the training script of each run (its record says so), ASSEMBLED its assembled pipeline.
"""
import json
import shutil
import sys
from pathlib import Path

from difflab.io.atomic import write_json_atomic
from difflab.pipelines.unclip import shipped_unclip_path

shipped = shipped_unclip_path()
config = json.loads((shipped / "pipeline.json").read_text())
record = config["training"]["decoder"]
for i, run in enumerate(sys.argv[1:]):
    script, folder = run.split(":", 1)
    new = json.loads((Path(folder) / "pipeline.json").read_text())["training"]["decoder"]
    before = "the shipped pipeline decoder before session 30" if i == 0 else "the decoder of the run before"
    new.update(clip="the shipped encoder (src/difflab/assets/shapes-unclip/clip)",
               init=f"{before} (record: continued_from); this run: {script}", continued_from=record)
    record = new
shutil.copyfile(Path(folder) / "decoder" / "model.safetensors", shipped / "decoder" / "model.safetensors")
config["training"]["decoder"] = record
write_json_atomic(shipped / "pipeline.json", config)
print(shipped)

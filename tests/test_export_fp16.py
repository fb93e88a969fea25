"""scripts/export_fp16.py: float16 copies of trained folders and weights files."""
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "export_fp16.py"


def _export(source, dest):
    return subprocess.run([sys.executable, str(SCRIPT), str(source), str(dest)], capture_output=True, text=True)


def test_weights_file_halves_floats_and_keeps_its_metadata(tmp_path):
    from safetensors import safe_open

    from difflab.io.weights import load_weights, save_weights

    source, dest = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    state = {"w": torch.randn(3, 4), "steps": torch.arange(3)}
    save_weights(source, state, metadata={"difflab_style_adapter": '{"config": {"tokens": 4}}'})
    r = _export(source, dest)
    assert r.returncode == 0, r.stderr
    out = load_weights(dest)
    assert out["w"].dtype == torch.float16 and torch.allclose(out["w"].float(), state["w"], atol=1e-3)
    assert torch.equal(out["steps"], state["steps"])
    with safe_open(str(dest), "pt") as f:
        assert f.metadata()["difflab_style_adapter"] == '{"config": {"tokens": 4}}'
    before = dest.read_bytes()
    r = _export(source, dest)  # nothing is overwritten
    assert r.returncode != 0 and "exists" in r.stderr and dest.read_bytes() == before


def test_pipeline_folder_keeps_its_ema_weights_in_float16(tmp_path):
    from difflab.pipelines.text_to_image import TextToImagePipeline
    from test_text_to_image import _tiny_pipeline

    pipe = _tiny_pipeline()
    folder = pipe.save(tmp_path / "pipe")
    r = _export(folder, tmp_path / "half")
    assert r.returncode == 0, r.stderr
    half = TextToImagePipeline.load(tmp_path / "half")
    full = TextToImagePipeline.load(folder, ema=True)
    for a, b in zip(half.denoiser.net.parameters(), full.denoiser.net.parameters()):
        assert torch.allclose(a.float(), b.half().float())

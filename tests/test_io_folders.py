import json

import pytest
import torch

import difflab
from difflab.nets import MLP
from difflab.io.folders import load_model, save_model
from difflab.schedules import DiscreteSchedule


def _model():
    torch.manual_seed(0)
    return difflab.Denoiser(MLP(dim=2, width=32, depth=1, emb_dim=16), DiscreteSchedule("cosine", 50), "v")


def test_round_trip(tmp_path):
    den = _model()
    save_model(tmp_path / "m", den, {"task": "toy"})
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    back, cfg = load_model(tmp_path / "m")
    assert back.prediction.value == "v" and back.time_input == "index" and cfg["task"] == "toy"
    x = torch.randn(4, 2)
    torch.testing.assert_close(back.x0(x, 0.3), den.x0(x, 0.3))
    assert back.schedule.to_config() == den.schedule.to_config()
    assert back.sigma_data is None and back.data_dim is None and "data_dim" not in cfg


def test_declared_data_scale_round_trips(tmp_path):
    den = _model()
    den.sigma_data, den.data_dim = 0.8, 3.5
    back, cfg = load_model(save_model(tmp_path / "m", den))
    assert (back.sigma_data, back.data_dim) == (0.8, 3.5) == (cfg["sigma_data"], cfg["data_dim"])
    with pytest.raises(ValueError, match="data_dim must be a number >= 1"):
        difflab.Denoiser(den.net, den.schedule, "v", data_dim=0.5)
    # a bad figure in the file is a one-line error that names the file
    folder = tmp_path / "m"
    for key, bad in [("data_dim", 0.5), ("sigma_data", -1), ("prediction", "noise")]:
        cfg = json.loads((folder / "config.json").read_text())
        good = cfg[key]
        (folder / "config.json").write_text(json.dumps({**cfg, key: bad}))
        with pytest.raises(ValueError, match=r"config\.json: .*" + ("prediction" if key == "prediction" else key)) as info:
            load_model(folder)
        assert len(str(info.value).splitlines()) == 1
        (folder / "config.json").write_text(json.dumps({**cfg, key: good}))


def test_mismatch_and_corruption_errors(tmp_path):
    den = _model()
    folder = save_model(tmp_path / "m", den, {"task": "toy"})
    cfg = json.loads((folder / "config.json").read_text())
    cfg["net"]["width"] = 64
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="model.safetensors does not match .*config.json.*shape"):
        load_model(folder)
    (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model(folder)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_model(tmp_path / "empty")


def test_no_temp_files_left(tmp_path):
    save_model(tmp_path / "m", _model())
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".")]

"""A saved model is a folder: ``config.json`` + ``model.safetensors`` (+ ``ema.safetensors``).

The config holds everything needed to rebuild the model: the network config,
the schedule, the prediction type and time input, and the data transform.
Weights are safetensors (never pickle). Every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .. import __version__  # no torch: the package __init__ is lazy
from ..denoiser import Denoiser
from ..nets import net_from_config
from ..nets.autoencoder import autoencoder_from_config
from ..schedules import schedule_from_config
from .atomic import write_json_atomic, write_text_atomic
from .diffusers import is_diffusers_folder, load_diffusers_model
from .jsonfile import read_json_object
from .weights import load_weights, save_weights, weight_shapes

__all__ = ["save_model", "load_model", "load_config", "save_weights", "load_weights", "check_state_dict",
           "load_network", "weight_shapes", "shipped_asset", "save_autoencoder", "load_autoencoder",
           "save_network", "load_network_folder",
           "write_pipeline_config", "read_pipeline_config", "pipeline_task", "PIPELINE_CONFIG", "MODEL_KEYS", "save_grids", "load_grids",
           "GRIDS", "write_config"]

CONFIG, WEIGHTS, EMA_WEIGHTS = "config.json", "model.safetensors", "ema.safetensors"
#: the config keys :func:`save_model` writes from the denoiser itself (the rest is ``extra``)
MODEL_KEYS = ("difflab_version", "net", "schedule", "prediction", "time_input")
#: the model's optimized step grids (difflab.samplers.optimize_grid), beside its config
GRIDS = "grids.json"
#: the file that makes a folder a pipeline (its parts are model folders beside it)
PIPELINE_CONFIG = "pipeline.json"


def load_network(build, weights: Path, config_path, what: str = "the network") -> torch.nn.Module:
    """``build()`` a network and load the safetensors file ``weights`` into it, checking
    first, without allocating any memory, that the config makes the network the file
    holds: the network is built on the ``meta`` device (shapes only) and compared with
    the file's header. A config that asks for a huge network (a width of 15000) fails
    here, before a byte is allocated; a mismatch names both files."""
    if not Path(weights).is_file():
        raise FileNotFoundError(f"{weights} is missing")
    shapes = weight_shapes(weights)
    try:
        with torch.device("meta"):
            skeleton = build()
    except (TypeError, ValueError, KeyError, IndexError, RuntimeError, ZeroDivisionError) as e:
        raise ValueError(f"{config_path}: cannot build {what} from this config ({e})") from None
    check_state_dict(shapes, skeleton.state_dict(), weights, f"{what} of {config_path}")
    net = build()
    net.load_state_dict(load_weights(weights))
    return net


def check_state_dict(state: dict, expected: dict, path, what: str = "the model") -> None:
    """Raise a ValueError naming ``path`` when ``state`` has other names or shapes than
    ``expected`` (both map names to tensors or to shapes)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{path} does not match {what}: missing {missing[:3]}{' ...' if len(missing) > 3 else ''}, "
                         f"unexpected {unexpected[:3]}{' ...' if len(unexpected) > 3 else ''}")
    for k, v in expected.items():
        found, wanted = tuple(getattr(state[k], "shape", state[k])), tuple(getattr(v, "shape", v))
        if found != wanted:
            raise ValueError(f"{path} does not match {what}: {k} has shape {found} in the file, {wanted} in {what}")


def cast_state(state: dict, dtype: torch.dtype | None) -> dict:
    """``state`` with its floating-point tensors in ``dtype`` (None: unchanged)."""
    if dtype is None:
        return state
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def save_model(folder, denoiser: Denoiser, extra: dict | None = None, ema_state: dict | None = None,
               dtype: torch.dtype | None = None) -> Path:
    """Save ``denoiser`` (its network must have a ``.config``) into ``folder``; ``dtype``
    (e.g. ``torch.float16``) stores the weights in that precision (loading casts them
    back to the network's float32)."""
    folder = Path(folder)
    net = denoiser.net
    if not hasattr(net, "config"):
        raise TypeError("only networks with a .config can be saved (difflab.nets)")
    config = {
        "difflab_version": __version__,
        "net": net.config,
        "schedule": denoiser.schedule.to_config(),
        "prediction": denoiser.prediction.value,
        "time_input": denoiser.time_input,
        **{k: getattr(denoiser, k) for k in ("sigma_data", "data_dim") if getattr(denoiser, k, None) is not None},
        **(extra or {}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / WEIGHTS, cast_state(net.state_dict(), dtype))
    if ema_state is not None:
        save_weights(folder / EMA_WEIGHTS, cast_state(ema_state, dtype))
    write_config(folder, config)
    return folder


def shipped_asset(name: str) -> Path:
    """The folder of model ``name`` shipped inside the package (``difflab/assets/NAME``;
    package data: nothing is downloaded)."""
    from importlib.resources import files

    return Path(str(files("difflab") / "assets" / name))


def load_config(folder) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {str(folder)!r} does not exist")
    path = folder / CONFIG
    return read_json_object(path, f"{str(folder)!r} is not a difflab model folder")


def load_model(folder, ema: bool = True, device: str | torch.device = "cpu") -> tuple[Denoiser, dict]:
    """Load a model folder; prefer EMA weights when present and ``ema``.

    A diffusers pipeline folder (``model_index.json``) is read by
    :func:`difflab.io.diffusers.load_diffusers_model` (``ema`` does not apply: such a folder
    holds one set of weights). Raises a clear error when the config and the weights disagree.
    """
    folder = Path(folder)
    if is_diffusers_folder(folder):
        denoiser, config = load_diffusers_model(folder, device=device)
        denoiser.grids = load_grids(folder)  # grids difflab tune-grid stored beside the diffusers files
        return denoiser, config
    config = load_config(folder)
    for key in ("net", "schedule", "prediction"):
        if key not in config:
            raise ValueError(f"{folder / CONFIG}: missing key {key!r}")
    wpath = folder / EMA_WEIGHTS if ema and (folder / EMA_WEIGHTS).is_file() else folder / WEIGHTS
    net = load_network(lambda: net_from_config(config["net"]), wpath, folder / CONFIG)
    net.to(device).eval()
    try:
        denoiser = Denoiser(net, schedule_from_config(config["schedule"]), config["prediction"], config.get("time_input"),
                            sigma_data=config.get("sigma_data"), data_dim=config.get("data_dim"))
    except ValueError as e:  # a bad value in the file: say which file
        raise ValueError(f"{folder / CONFIG}: {e}") from None
    denoiser.grids = load_grids(folder)
    return denoiser, config


def save_grids(folder, entries: dict) -> Path:
    """Merge ``entries`` ({(sampler, steps): {"sigmas": [...], "options": {...}, ...}}) into the
    model folder's ``grids.json`` (atomically); other samplers' and budgets' grids are kept."""
    folder = Path(folder)
    if not is_diffusers_folder(folder):
        load_config(folder)  # a model folder, or a clear error
    stored = _read_grids(folder)
    for (sampler, steps), entry in entries.items():
        sigmas = [float(v) for v in entry["sigmas"]]
        stored.setdefault(sampler, {})[str(int(steps))] = {**entry, "sigmas": sigmas}
    path = folder / GRIDS
    # strict JSON: a non-finite number in an entry's record (a search's start_error) is written as a string
    write_json_atomic(path, {"difflab_version": __version__, "grids": stored}, indent=1)
    return path


def load_grids(folder) -> dict:
    """The optimized grids of a model folder as {(sampler, steps): {"sigmas": tensor, "options": dict}};
    {} without a ``grids.json``. A grid that is not strictly decreasing to 0 with ``steps + 1``
    levels is an error naming the file."""
    out = {}
    for sampler, by_steps in _read_grids(Path(folder)).items():
        for steps, entry in by_steps.items():
            sigmas = torch.tensor(entry.get("sigmas", []), dtype=torch.float64)
            ok = str(steps).isdigit() and len(sigmas) == int(steps) + 1 and sigmas[-1] == 0 and bool((sigmas[:-1] > sigmas[1:]).all())
            if not ok or not isinstance(entry.get("options", {}), dict):
                raise ValueError(f"{Path(folder) / GRIDS}: the {sampler} grid for {steps} steps is not {steps} + 1 "
                                 "decreasing levels ending at 0")
            out[(sampler, int(steps))] = {"sigmas": sigmas, "options": dict(entry.get("options", {}))}
    return out


def _read_grids(folder: Path) -> dict:
    path = folder / GRIDS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("grids"), dict):
        raise ValueError(f"{path}: expected {{\"grids\": {{sampler: {{steps: ...}}}}}}")
    return data["grids"]


def save_network(folder, net: torch.nn.Module, task: str, extra: dict | None = None,
                 dtype: torch.dtype | None = None) -> Path:
    """Save a network with a ``config`` attribute as a folder: ``config.json``
    (``{"difflab_version", "task", **extra, "net": net.config}``) and ``model.safetensors``,
    atomically; ``dtype``: store the weights in that precision (see :func:`save_model`)."""
    folder = Path(folder)
    config = {"difflab_version": __version__, "task": task, **(extra or {}), "net": net.config}
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / WEIGHTS, cast_state(net.state_dict(), dtype))
    write_config(folder, config)
    return folder


def write_config(folder, config: dict) -> Path:
    """Write ``folder/config.json`` (atomically: a reader sees the old file or the new one, never half)."""
    path = Path(folder) / CONFIG
    write_text_atomic(path, json.dumps(config, indent=2) + "\n")
    return path


def load_network_folder(folder, build, task: str, what: str,
                        device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load a folder written by :func:`save_network` for ``task``: ``(build(config["net"]) with
    the folder's weights, in eval mode on ``device``, config)``. Refuses another task's folder
    and weights that do not match the network the config builds, naming the files."""
    folder = Path(folder)
    config = load_config(folder)
    if config.get("task", task) != task:
        raise ValueError(f"{folder / CONFIG} holds a {config.get('task')!r} model, not {what}")
    if "net" not in config:
        raise ValueError(f"{folder / CONFIG}: missing key 'net'")
    net = load_network(lambda: build(config["net"]), folder / WEIGHTS, folder / CONFIG, what)
    return net.to(device).eval(), config


def save_autoencoder(folder, autoencoder, extra: dict | None = None,
                     dtype: torch.dtype | None = None) -> Path:
    """Save ``autoencoder`` as a folder (:func:`save_network` with task ``"autoencoder"``)."""
    return save_network(folder, autoencoder, "autoencoder", extra, dtype)


def load_autoencoder(folder, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load a folder written by :func:`save_autoencoder`; ``(autoencoder in eval mode, config)``.

    Refuses weights that do not match the network the config builds, naming both files."""
    return load_network_folder(folder, autoencoder_from_config, "autoencoder", "the autoencoder", device)


def write_pipeline_config(folder, config: dict) -> Path:
    """Write ``folder/pipeline.json`` (atomically) with ``config`` and difflab's version."""
    path = Path(folder) / PIPELINE_CONFIG
    write_text_atomic(path, json.dumps({"difflab_version": __version__, **config}, indent=2) + "\n")
    return path


def pipeline_task(folder) -> str | None:
    """The ``task`` that ``folder/pipeline.json`` names, or None where there is no readable one."""
    try:
        task = json.loads((Path(folder) / PIPELINE_CONFIG).read_text()).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    return task if isinstance(task, str) else None


def read_pipeline_config(folder, task: str, required: tuple = ()) -> dict:
    """The ``pipeline.json`` of the pipeline folder ``folder``, checked to describe a
    ``task`` pipeline with the keys ``required``; a one-line error names the folder or
    the file otherwise. The version and task entries are removed."""
    folder = Path(folder)
    path = folder / PIPELINE_CONFIG
    if not folder.is_dir():
        raise FileNotFoundError(f"pipeline folder {str(folder)!r} does not exist")
    config = read_json_object(path, f"{str(folder)!r} is not a {task} pipeline folder")
    if config.get("task") != task or any(k not in config for k in required):
        got = config.get("task") if isinstance(config, dict) else None
        raise ValueError(f"{path} does not describe a {task} pipeline (task {got!r})")
    for key in ("difflab_version", "task"):
        config.pop(key, None)
    return config

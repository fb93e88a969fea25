"""Model folders in the diffusers format, read as difflab models.

A diffusers pipeline folder (what ``DiffusionPipeline.save_pretrained`` writes and the Hub
serves) holds ``model_index.json`` naming its parts, one subfolder per part with its
``config.json`` and weights, and ``scheduler/scheduler_config.json``. difflab reads:

- the **network** with diffusers itself (the optional extra ``difflab[diffusers]``; difflab
  does not re-implement foreign architectures), wrapped as a difflab network
  (:class:`difflab.nets.foreign.DiffusersUNet`);
- the **schedule and parameterization** from the scheduler config, mapped exactly onto a
  :class:`~difflab.schedules.DiscreteSchedule` and a prediction type
  (:func:`schedule_from_diffusers`; a setting difflab cannot honour is an error that names it).

Safety: only safetensors weights are read (pickled ``.bin`` / ``.ckpt`` files can run code when
loaded, so a folder holding only those is refused with a one-line error); nothing is ever
downloaded (a missing file is an error); every config is checked, and the network built on the
``meta`` device and compared with the weights' header, before any weight is allocated.

Read: unconditional ``UNet2DModel`` pipelines (DDPM, DDIM, PNDM ... folders) as an image model
(:func:`load_diffusers_model`), and text-to-image folders in the Stable Diffusion 1.x / 2.x
layout (``UNet2DConditionModel`` + ``AutoencoderKL`` + a CLIP text encoder and tokenizer) as the
parts of a :class:`~difflab.pipelines.text_to_image.TextToImagePipeline`
(:func:`load_diffusers_text_to_image`; the text encoder is read a layer above, by
:class:`difflab.text.clip.CLIPTextEncoder`); and single-file CompVis / LDM checkpoints
(``single_file=``), converted by diffusers' own ``convert_ldm_*`` functions with the configs of
a folder of the same family.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..denoiser import Denoiser
from ..nets.foreign import DiffusersAutoencoder, DiffusersConditionUNet, DiffusersUNet
from ..schedules import DiscreteSchedule
from .jsonfile import read_json_object
from .weights import weight_shapes

__all__ = ["MODEL_INDEX", "is_diffusers_folder", "diffusers_task", "schedule_from_diffusers", "load_diffusers_model",
           "load_diffusers_text_to_image", "load_pretrained_part", "load_state_part", "read_single_file",
           "safetensors_weights", "PREDICTIONS", "BETA_SCHEDULES"]

MODEL_INDEX = "model_index.json"
SCHEDULER_CONFIG = Path("scheduler") / "scheduler_config.json"
WEIGHTS = "diffusion_pytorch_model.safetensors"
PICKLED = (".bin", ".ckpt", ".pt", ".pth", ".pkl")

#: diffusers' prediction_type -> difflab's prediction
PREDICTIONS = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}
#: diffusers' beta_schedule -> difflab's beta table
BETA_SCHEDULES = {"linear": "linear", "scaled_linear": "scaled-linear", "squaredcos_cap_v2": "cosine"}
#: networks difflab runs (model_index entry of the ``unet`` part)
UNETS = ("UNet2DModel",)
TEXT_TO_IMAGE_UNETS = ("UNet2DConditionModel",)


def is_diffusers_folder(folder) -> bool:
    """True when ``folder`` is a diffusers pipeline folder (it holds ``model_index.json``)."""
    return (Path(folder) / MODEL_INDEX).is_file()


def schedule_from_diffusers(config: dict, where: str = "scheduler_config.json") -> tuple[DiscreteSchedule, str, dict]:
    """(schedule, prediction, sampling) of a diffusers scheduler config.

    The settings that define the model map exactly: ``num_train_timesteps`` (T),
    ``beta_schedule`` with ``beta_start`` / ``beta_end`` (``linear``, ``scaled_linear``,
    ``squaredcos_cap_v2``), ``trained_betas``, ``rescale_betas_zero_snr`` and
    ``prediction_type`` (``epsilon`` / ``v_prediction`` / ``sample``). Any other beta schedule
    or prediction type is an error naming it. ``sampling`` records the scheduler's inference
    settings (``timestep_spacing``, ``steps_offset``, ``clip_sample``, ``set_alpha_to_one``,
    ``thresholding``): difflab's samplers take their own grid (``--spacing leading`` with
    ``make_grid(..., offset=steps_offset)`` reproduces diffusers' leading grid) and do not
    clip or threshold x0-hat; docs/pretrained.md says what each setting maps to."""
    T = config.get("num_train_timesteps", 1000)
    if isinstance(T, bool) or not isinstance(T, int) or T < 2:
        raise ValueError(f"{where}: num_train_timesteps must be an integer >= 2, got {T!r}")
    prediction_type = config.get("prediction_type", "epsilon")
    if prediction_type not in PREDICTIONS:
        raise ValueError(f"{where}: prediction_type {prediction_type!r} is not supported; difflab reads "
                         f"{', '.join(PREDICTIONS)}")
    zero_snr = bool(config.get("rescale_betas_zero_snr", False))
    trained = config.get("trained_betas")
    if trained is not None:
        if not isinstance(trained, list) or len(trained) != T:
            raise ValueError(f"{where}: trained_betas must be a list of num_train_timesteps = {T} numbers")
        schedule = DiscreteSchedule("given", T, zero_terminal_snr=zero_snr, betas=[float(b) for b in trained])
    else:
        name = config.get("beta_schedule", "linear")
        if name not in BETA_SCHEDULES:
            raise ValueError(f"{where}: beta_schedule {name!r} is not supported; difflab maps "
                             f"{', '.join(BETA_SCHEDULES)} (or trained_betas)")
        kind = BETA_SCHEDULES[name]
        args: dict = {}
        if kind == "linear":
            # difflab's linear table quotes beta_start / beta_end for T = 1000 and rescales by
            # 1000 / T; diffusers uses them as given: undo the rescale so the tables agree
            args = {"beta_start": float(config.get("beta_start", 1e-4)) * T / 1000,
                    "beta_end": float(config.get("beta_end", 0.02)) * T / 1000}
        elif kind == "scaled-linear":
            args = {"beta_start": float(config.get("beta_start", 1e-4)), "beta_end": float(config.get("beta_end", 0.02))}
        schedule = DiscreteSchedule(kind, T, zero_terminal_snr=zero_snr, **args)
    sampling = {k: config[k] for k in ("timestep_spacing", "steps_offset", "clip_sample", "clip_sample_range",
                                       "set_alpha_to_one", "thresholding", "variance_type") if k in config}
    sampling["scheduler"] = config.get("_class_name")
    return schedule, PREDICTIONS[prediction_type], sampling


def safetensors_weights(part: Path, name: str = WEIGHTS) -> Path:
    """The safetensors weights ``name`` of one part folder; a folder holding only pickled
    weights is refused (unpickling can run code), a missing file is an error."""
    if (part / name).is_file():
        return part / name
    if (part / f"{name}.index.json").is_file():
        raise ValueError(f"{part}: sharded weights ({name}.index.json) are not supported yet")
    pickled = sorted(p.name for p in part.iterdir() if p.suffix in PICKLED) if part.is_dir() else []
    if pickled:
        raise ValueError(f"{part} holds only pickled weights ({', '.join(pickled)}): difflab reads safetensors only, "
                         "since unpickling can run code; convert them with diffusers (save_pretrained, "
                         "safe_serialization=True)")
    raise FileNotFoundError(f"{part / name} is missing (difflab never downloads a missing file)")


def _import_diffusers():
    try:
        import diffusers
    except ImportError:
        raise ImportError("reading a diffusers folder needs diffusers: pip install 'difflab[diffusers]'") from None
    return diffusers


def load_pretrained_part(part: Path, skeleton, load, weights: Path, what: str):
    """One part of a diffusers folder, checked before anything is allocated: ``skeleton()``
    builds the part from its config on the ``meta`` device (a config its library cannot build
    is a one-line error), its number of parameters is compared with the weights' header, then
    ``load()`` reads it from local files only (its library's ``from_pretrained``)."""
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = skeleton()
    except Exception as e:  # a config the library cannot build
        raise ValueError(f"{part}: not a valid {what} config ({type(e).__name__}: {e})") from None
    expected = sum(p.numel() for p in module.state_dict().values())
    del module
    stored = sum(int(torch.Size(s).numel()) for s in weight_shapes(weights).values())
    if stored != expected:
        raise ValueError(f"{weights} holds {stored:,} numbers but {part / 'config.json'} builds a network of "
                         f"{expected:,}: the config and the weights do not belong together")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load()


def _diffusers_part(folder: Path, name: str, classes: tuple[str, ...]):
    """The diffusers model in subfolder ``name`` (its ``_class_name`` one of ``classes``)."""
    diffusers = _import_diffusers()
    part = folder / name
    config = read_json_object(part / "config.json", f"the {name} config (difflab never downloads a missing file)")
    cls_name = config.get("_class_name")
    if cls_name not in classes or not hasattr(diffusers, cls_name):
        raise ValueError(f"{part / 'config.json'}: _class_name {cls_name!r} is not a {name} difflab runs "
                         f"(expected one of {', '.join(classes)})")
    cls = getattr(diffusers, cls_name)
    weights = safetensors_weights(part)
    verbosity = diffusers.utils.logging.get_verbosity()
    diffusers.utils.logging.set_verbosity_error()  # its advice to install accelerate is no error of the user's
    try:
        return load_pretrained_part(part, lambda: cls.from_config(config),
                                    lambda: cls.from_pretrained(part, use_safetensors=True, local_files_only=True),
                                    weights, cls_name)
    finally:
        diffusers.utils.logging.set_verbosity(verbosity)


def diffusers_task(folder) -> str:
    """What a diffusers pipeline folder holds, from its ``model_index.json``: ``"image"`` (an
    unconditional ``UNet2DModel`` pipeline) or ``"text-to-image"`` (``UNet2DConditionModel`` +
    ``AutoencoderKL`` + a CLIP text encoder); anything else is an error."""
    folder = Path(folder)
    index = read_json_object(folder / MODEL_INDEX, "the pipeline's index (difflab never downloads a missing file)")
    unet = index.get("unet")
    if not (isinstance(unet, list) and len(unet) == 2):
        raise ValueError(f"{folder / MODEL_INDEX}: no 'unet' part; difflab reads pipelines with a UNet")
    if unet[1] in UNETS:
        return "image"
    if unet[1] in TEXT_TO_IMAGE_UNETS:
        return "text-to-image"
    raise ValueError(f"{folder / MODEL_INDEX}: unet is a {unet[1]!r}; difflab reads "
                     f"{', '.join(UNETS + TEXT_TO_IMAGE_UNETS)}")


def _schedule(folder: Path):
    return schedule_from_diffusers(read_json_object(folder / SCHEDULER_CONFIG,
                                                    "the scheduler config (difflab never downloads a missing file)"),
                                   str(folder / SCHEDULER_CONFIG))


def load_diffusers_model(folder, device: str | torch.device = "cpu") -> tuple[Denoiser, dict]:
    """A diffusers ``UNet2DModel`` pipeline folder as a difflab (Denoiser, config): see the module
    docstring. The config is an image model's (``task`` "image": pixel images in [-1, 1], the
    shape from the network's config), with ``source`` recording the folder's format and
    ``sampling`` the scheduler's inference settings."""
    folder = Path(folder)
    if diffusers_task(folder) != "image":
        raise ValueError(f"{folder}: a text-to-image diffusers pipeline; load it with TextToImagePipeline.load "
                         "(difflab generate --model)")
    schedule, prediction, sampling = _schedule(folder)
    part = folder / "unet"
    unet_config = read_json_object(part / "config.json", "the unet config (difflab never downloads a missing file)")
    if unet_config.get("num_class_embeds") or unet_config.get("class_embed_type"):
        raise ValueError(f"{part / 'config.json'}: class-conditional UNet2DModels are not supported yet")
    unet = _diffusers_part(folder, "unet", UNETS)
    index = read_json_object(folder / MODEL_INDEX, "the pipeline's index")
    c_in, c_out, size = unet.config.in_channels, unet.config.out_channels, unet.config.sample_size
    if c_out not in (c_in, 2 * c_in):
        raise ValueError(f"{part / 'config.json'}: out_channels {c_out} is neither in_channels {c_in} "
                         "nor twice it (a learned variance)")
    size = [size, size] if isinstance(size, int) else list(size)
    net = DiffusersUNet(unet, c_in if c_out != c_in else None).to(device).eval()
    denoiser = Denoiser(net, schedule, prediction, "index")
    config = {
        "task": "image",
        "source": {"format": "diffusers", "pipeline": index.get("_class_name"), "folder": str(folder)},
        "net": {"type": "diffusers", "class": unet_config.get("_class_name")},
        "schedule": schedule.to_config(), "prediction": prediction, "time_input": "index",
        "data": {"name": "diffusers", "shape": [c_in, *size], "range": [-1.0, 1.0], "pixel_range": [0, 255],
                 "transform": {"type": "affine", "shift": 127.5, "scale": 127.5}, "num_classes": None, "classes": []},
        "num_classes": None,
        "sampling": sampling,
    }
    return denoiser, config


#: the guidance scale diffusers' text-to-image pipelines use unless told otherwise
DIFFUSERS_GUIDANCE = 7.5


def read_single_file(path) -> dict:
    """The tensors of a single-file CompVis / LDM checkpoint: a ``.safetensors`` file only
    (a pickled ``.ckpt`` can run code when loaded)."""
    from .weights import load_weights

    path = Path(path)
    if path.suffix in PICKLED:
        raise ValueError(f"{path}: a pickled checkpoint; difflab reads safetensors only, since unpickling can run code "
                         "(convert it to .safetensors first)")
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: expected a .safetensors checkpoint")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return load_weights(path)


def _single_file_states(checkpoint: dict, folder: Path) -> dict:
    """The U-Net, VAE and CLIP state dicts in diffusers' layout of an LDM checkpoint, converted
    by diffusers' own single-file functions with the configs of ``folder``."""
    _import_diffusers()
    from diffusers.loaders.single_file_utils import (convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint,
                                                     convert_ldm_vae_checkpoint)

    if not any(k.startswith("model.diffusion_model.") for k in checkpoint):
        raise ValueError("not a CompVis / LDM Stable Diffusion checkpoint (no model.diffusion_model.* tensors)")
    unet_config = read_json_object(folder / "unet" / "config.json", "the unet config")
    vae_config = read_json_object(folder / "vae" / "config.json", "the vae config")
    try:
        return {"unet": convert_ldm_unet_checkpoint(checkpoint, unet_config),
                "vae": convert_ldm_vae_checkpoint(checkpoint, vae_config),
                "text_encoder": convert_ldm_clip_checkpoint(checkpoint)}
    except (KeyError, IndexError, AttributeError) as e:
        raise ValueError(f"the checkpoint does not fit the configs of {folder} ({type(e).__name__}: {e})") from None


def load_state_part(part: Path, skeleton, build, state: dict, what: str, ignore: tuple[str, ...] = ()):
    """A part built from its config and loaded from ``state`` (a converted single-file
    checkpoint), checked first on the ``meta`` device: the same tensor names and shapes, or a
    one-line error naming the difference (names ending in ``ignore`` are buffers that some
    checkpoints carry and some do not)."""
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = {k: tuple(v.shape) for k, v in skeleton().state_dict().items() if not k.endswith(ignore)}
    except Exception as e:
        raise ValueError(f"{part}: not a valid {what} config ({type(e).__name__}: {e})") from None
    got = {k: tuple(v.shape) for k, v in state.items() if not k.endswith(ignore)}
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    if missing or extra or wrong:
        what_is = (f"{len(missing)} missing (e.g. {missing[0]})" if missing else
                   f"{len(extra)} unexpected (e.g. {extra[0]})" if extra else f"{wrong[0]} has shape {got[wrong[0]]}, "
                   f"the config builds {expected[wrong[0]]}")
        raise ValueError(f"the checkpoint's {what} does not fit {part / 'config.json'}: {what_is}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = build()
    module.load_state_dict({k: v for k, v in state.items() if k in module.state_dict()}, strict=False)
    return module


def _diffusers_part_from_state(folder: Path, name: str, classes: tuple[str, ...], state: dict):
    diffusers = _import_diffusers()
    config = read_json_object(folder / name / "config.json", f"the {name} config (difflab never downloads a missing file)")
    cls_name = config.get("_class_name")
    if cls_name not in classes:
        raise ValueError(f"{folder / name / 'config.json'}: _class_name {cls_name!r} is not a {name} difflab runs "
                         f"(expected one of {', '.join(classes)})")
    cls = getattr(diffusers, cls_name)
    return load_state_part(folder / name, lambda: cls.from_config(config), lambda: cls.from_config(config), state,
                           cls_name)


def load_diffusers_text_to_image(folder, device: str | torch.device = "cpu", single_file=None) -> dict:
    """The parts of a diffusers text-to-image folder (Stable Diffusion 1.x / 2.x layout) as difflab
    objects: ``denoiser`` (the ``UNet2DConditionModel`` behind
    :class:`~difflab.nets.foreign.DiffusersConditionUNet`, with the scheduler's schedule and
    prediction type), ``autoencoder`` (:class:`~difflab.nets.foreign.DiffusersAutoencoder` with
    the VAE's ``scaling_factor``), the folders ``text_encoder`` and ``tokenizer`` (read by
    :class:`difflab.text.clip.CLIPTextEncoder`, a layer above), and the pipeline ``config``.

    ``single_file``: a CompVis / LDM checkpoint (one ``.safetensors``, SD 1.x / 2.x layout) whose
    weights replace the folder's: ``folder`` then gives only the configs, tokenizer and scheduler
    (its weight files are not read), the weights are converted by diffusers' own single-file
    functions and checked name by name and shape by shape against the configs;
    ``text_encoder_state`` in the result holds the CLIP weights."""
    folder = Path(folder)
    if diffusers_task(folder) != "text-to-image":
        raise ValueError(f"{folder}: not a text-to-image diffusers pipeline")
    for name in ("vae", "text_encoder", "tokenizer", "scheduler"):
        if not (folder / name).is_dir():
            raise FileNotFoundError(f"{folder / name} is missing (difflab never downloads a missing file)")
    schedule, prediction, sampling = _schedule(folder)
    states = _single_file_states(read_single_file(single_file), folder) if single_file is not None else None
    if states is None:
        unet = _diffusers_part(folder, "unet", TEXT_TO_IMAGE_UNETS)
        vae = _diffusers_part(folder, "vae", ("AutoencoderKL",))
    else:
        unet = _diffusers_part_from_state(folder, "unet", TEXT_TO_IMAGE_UNETS, states["unet"])
        vae = _diffusers_part_from_state(folder, "vae", ("AutoencoderKL",), states["vae"])
    if getattr(vae.config, "shift_factor", None):
        raise ValueError(f"{folder / 'vae' / 'config.json'}: shift_factor {vae.config.shift_factor} is not supported "
                         "(a Stable Diffusion 3 / FLUX autoencoder)")
    autoencoder = DiffusersAutoencoder(vae.eval(), vae.config.scaling_factor).to(device).eval()
    denoiser = Denoiser(DiffusersConditionUNet(unet.eval()).to(device).eval(), schedule, prediction, "index")
    size = unet.config.sample_size
    if not isinstance(size, int):
        raise ValueError(f"{folder / 'unet' / 'config.json'}: a non-square sample_size {size} is not supported")
    index = read_json_object(folder / MODEL_INDEX, "the pipeline's index")
    source = {"format": "diffusers", "pipeline": index.get("_class_name"), "folder": str(folder)}
    if single_file is not None:
        source = {**source, "format": "single-file (CompVis / LDM)", "checkpoint": str(single_file)}
    config = {"image_size": size * autoencoder.factor, "defaults": {"guidance": DIFFUSERS_GUIDANCE},
              "source": source, "sampling": sampling}
    return {"denoiser": denoiser, "autoencoder": autoencoder, "text_encoder": folder / "text_encoder",
            "tokenizer": folder / "tokenizer", "config": config,
            "text_encoder_state": None if states is None else states["text_encoder"]}

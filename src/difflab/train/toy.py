"""Train a 2-D toy model end to end: data, network, schedule, loop, saved folder."""

from __future__ import annotations

from pathlib import Path

import torch

from ..data import Affine, toy_dataset
from ..denoiser import Denoiser
from ..losses import check_objective
from ..nets import MLP
from ..schedules import DiscreteSchedule, Schedule, schedule_preset
from .distributed import world
from .loop import fit
from .run_folder import model_exporter, trainer

__all__ = ["train_toy", "default_time_input"]

#: the offset from the run's seed of the draw that standardises the data
TRANSFORM_DRAW = 999

def default_time_input(schedule: Schedule) -> tuple[str, float]:
    """(time_input, input_scale) for an MLP on this schedule: DDPM indices as they
    are; continuous t scaled by 1000 so the sinusoidal embedding sees the same range."""
    if isinstance(schedule, DiscreteSchedule):
        return "index", 1.0
    return "t", 1000.0


@trainer
def train_toy(
    data: str = "moons",
    *,
    out: str | Path,
    steps: int = 3000,
    schedule: str = "ddpm",
    prediction: str = "eps",
    weighting: str | None = None,
    t_sampling: str = "uniform",
    batch_size: int = 512,
    lr: float = 2e-3,
    width: int = 256,
    depth: int = 3,
    seed: int = 0,
    progress: bool = True,
    checkpoint_every: int | None = 500,
    resume: bool = False,
    overwrite: bool = False,
    device: str | torch.device | None = None,
    compile: bool = False,
    precision: str = "fp32",
) -> Path:
    """Train an MLP denoiser on toy dataset ``data`` and save it as a model folder.

    ``prediction="score"`` is denoising score matching (weighting sigma^2 unless
    ``weighting`` says otherwise); ``weighting="likelihood"`` with
    ``t_sampling="likelihood"`` is the likelihood-weighted, importance-sampled
    objective of Song, Durkan, Murray & Ermon 2021.

    ``out`` is the model folder and the run folder (checkpoint every
    ``checkpoint_every`` steps and at the end, ``train_log.jsonl``, ``loss.png``);
    ``resume=True`` continues an interrupted run exactly. ``device`` defaults to CUDA
    when it is available."""
    draw = toy_dataset(data)
    check_objective(weighting, t_sampling)
    sched = schedule_preset(schedule)
    # the standardisation's own draw, apart from the training stream (seeded seed)
    transform = Affine.standardize(draw(100_000, torch.Generator().manual_seed(seed + TRANSFORM_DRAW)))
    time_input, input_scale = default_time_input(sched)
    torch.manual_seed(seed)
    net = MLP(dim=2, width=width, depth=depth, input_scale=input_scale)
    net.to(torch.device(device) if device is not None else world().device)
    denoiser = Denoiser(net, sched, prediction, time_input)
    training = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "weighting": weighting,
                "t_sampling": t_sampling}
    data_cfg = {"name": data, "shape": [2], "transform": transform.to_config()}

    export = model_exporter(out, denoiser, {"task": "toy", "data": data_cfg, "training": training})

    fit(
        denoiser,
        lambda n, g: transform.encode(draw(n, g)),
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        weighting=weighting,
        t_sampling=t_sampling,
        out=out,
        checkpoint_every=checkpoint_every,
        resume=resume,
        config={"net": net.config, "schedule": sched.to_config(), "prediction": prediction, "data": data_cfg},
        on_checkpoint=export, compile=compile, precision=precision,
        seed=seed,
        progress=progress,
        desc=f"train {data}",
    )
    return Path(out)

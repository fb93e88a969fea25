"""Training: the engine (:func:`fit`, with a pluggable :class:`Loss`), the EMA, checkpoints,
data parallelism, and the trainers that put data, network and schedule together
(``toy``, ``image``, ``superres``, ``autoencoder``)."""

from ..io.checkpoint import Checkpoint, read_checkpoint, save_checkpoint
from .distributed import World, init_distributed, world
from .ema import EMA, ema_half_life
from .log import LossLog, plot_loss_curve, read_log
from .loop import DenoisingLoss, FitResult, Loss, drop_conditions, fit, lr_factor

__all__ = [
    "EMA", "ema_half_life", "fit", "FitResult", "Loss", "DenoisingLoss", "lr_factor", "drop_conditions",
    "Checkpoint", "read_checkpoint", "save_checkpoint", "World", "init_distributed", "world",
    "LossLog", "read_log", "plot_loss_curve",
]

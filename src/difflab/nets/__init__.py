"""Networks only. They receive (x, noise_input, **cond) and know nothing of schedules."""

from __future__ import annotations

from torch import nn

from .embedding import sinusoidal_embedding
from .mlp import MLP
from .prior import PriorTransformer
from .unet import UNet

__all__ = ["MLP", "NETS", "PriorTransformer", "UNet", "net_from_config", "sinusoidal_embedding"]

NETS = {"mlp": MLP, "unet": UNet, "prior": PriorTransformer}


def net_from_config(config: dict) -> nn.Module:
    """Rebuild a network from its ``.config`` dict."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in NETS:
        raise ValueError(f"unknown network type {kind!r}; expected one of: {', '.join(NETS)}")
    try:
        return NETS[kind](**config)
    except TypeError as e:
        raise ValueError(f"bad {kind} network config: {e}") from None

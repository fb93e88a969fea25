"""Low-rank adaptation (LoRA, Hu et al. 2022) of a network's linear and convolutional layers.

A frozen ``nn.Linear`` W gains a trainable low-rank update: ``y = W x + (alpha / r) B A x``
with A (r x in) drawn small and B (out x r) zero, so an adapted network starts exactly as
the original (Hu et al. 2022, sec. 4.1). Only A and B are trained and stored, a few
thousand numbers per layer; removing the adapters restores the network bit for bit. A frozen
``nn.Conv2d`` gains the same kind of update as a convolution: A a convolution of the layer's
own kernel size down to r channels, B a 1 x 1 convolution up (LoCon, as in LyCORIS; Yeh et
al. 2024), a kernel update of rank <= r.

For styles, difflab adapts the cross-attention of a text-conditioned
:class:`~difflab.nets.UNet` (its queries, keys / values and output projection, ``q_x``,
``kv_x``, ``proj_x``), where the text meets the image, as LoRA style adapters of Stable
Diffusion do.
"""

from __future__ import annotations

import contextlib
import hashlib

import torch
from torch import nn

__all__ = ["LoRALayer", "LoRALinear", "LoRAConv2d", "add_lora", "remove_lora", "has_lora", "lora_disabled", "lora_state", "load_lora_state", "fingerprint", "CROSS_ATTENTION", "RES_CONVOLUTIONS"]

#: names of the cross-attention's linear layers in difflab's UNet (AttentionBlock)
CROSS_ATTENTION = ("q_x", "kv_x", "proj_x")
#: names of the residual blocks' two 3 x 3 convolutions in difflab's UNet (ResBlock)
RES_CONVOLUTIONS = ("conv1", "conv2")


class LoRALayer(nn.Module):
    """``base(x) + (alpha / rank) * up(down(x))`` with ``base`` frozen and ``up`` zero at the start:
    the part :class:`LoRALinear` and :class:`LoRAConv2d` share."""

    def __init__(self, base: nn.Module, down: nn.Module, up: nn.Module, rank: int, alpha: float | None) -> None:
        super().__init__()
        self.base, self.rank = base, int(rank)
        self.alpha = float(alpha if alpha is not None else rank)
        self.down, self.up = down, up
        nn.init.normal_(self.down.weight, std=1.0 / self.rank)
        nn.init.zeros_(self.up.weight)
        base.requires_grad_(False)
        self.enabled = True  # False: the base layer alone (lora_disabled)

    @property
    def weight(self) -> torch.Tensor:  # what callers of the base layer read (e.g. its dtype)
        return self.base.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return self.base(x)
        return self.base(x) + (self.alpha / self.rank) * self.up(self.down(x))


def _check_rank(rank, limit: int) -> None:
    if int(rank) != rank or not 1 <= rank <= limit:
        raise ValueError(f"rank must be an integer from 1 to {limit}, got {rank}")


class LoRALinear(LoRALayer):
    """A frozen ``nn.Linear`` W with a low-rank update B A (A: rank x in, B: out x rank)."""

    def __init__(self, base: nn.Linear, rank: int = 4, alpha: float | None = None) -> None:
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRA adapts nn.Linear layers, got {type(base).__name__}")
        _check_rank(rank, min(base.in_features, base.out_features))
        like = {"device": base.weight.device, "dtype": base.weight.dtype, "bias": False}
        super().__init__(base, nn.Linear(base.in_features, int(rank), **like),
                         nn.Linear(int(rank), base.out_features, **like), rank, alpha)

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features


class LoRAConv2d(LoRALayer):
    """A frozen ``nn.Conv2d`` with a low-rank update: a convolution of the base's kernel, stride
    and padding down to ``rank`` channels, then a 1 x 1 convolution up to the output's (LoCon,
    LyCORIS; Yeh et al. 2024), so the update draws on the same neighbourhood as the layer."""

    def __init__(self, base: nn.Conv2d, rank: int = 4, alpha: float | None = None) -> None:
        if not isinstance(base, nn.Conv2d) or base.groups != 1:
            raise TypeError(f"LoRA adapts nn.Conv2d layers without groups, got {type(base).__name__}")
        _check_rank(rank, min(base.in_channels * base.kernel_size[0] * base.kernel_size[1], base.out_channels))
        like = {"device": base.weight.device, "dtype": base.weight.dtype, "bias": False}
        down = nn.Conv2d(base.in_channels, int(rank), base.kernel_size, base.stride, base.padding, base.dilation,
                         padding_mode=base.padding_mode, **like)
        super().__init__(base, down, nn.Conv2d(int(rank), base.out_channels, 1, **like), rank, alpha)


def has_lora(net: nn.Module) -> bool:
    """Whether ``net`` has LoRA adapters."""
    return any(isinstance(m, LoRALayer) for m in net.modules())


@contextlib.contextmanager
def lora_disabled(net: nn.Module):
    """Within the block, ``net``'s adapted layers compute their base layers alone: the network is
    the original, exactly."""
    layers = [m for m in net.modules() if isinstance(m, LoRALayer)]
    before = [m.enabled for m in layers]
    try:
        for m in layers:
            m.enabled = False
        yield
    finally:
        for m, on in zip(layers, before):
            m.enabled = on


def _targets(net: nn.Module, names) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, layer) of every submodule whose own name is in ``names``."""
    out = []
    for parent in net.modules():
        for attr, child in parent.named_children():
            if attr in names and isinstance(child, (nn.Linear, nn.Conv2d, LoRALayer)):
                out.append((parent, attr, child))
    return out


def add_lora(net: nn.Module, rank: int = 4, alpha: float | None = None, names=CROSS_ATTENTION) -> list[str]:
    """Freeze ``net`` and wrap each linear or convolutional layer named in ``names`` in a
    :class:`LoRALinear` or :class:`LoRAConv2d`
    (in place). Returns the adapted layers' qualified names; a one-line error if there are none.
    Which parameters required gradients is remembered, and :func:`remove_lora` restores it."""
    if not hasattr(net, "_lora_requires_grad"):
        net._lora_requires_grad = {n: p.requires_grad for n, p in net.named_parameters()}
    net.requires_grad_(False)
    adapted = []
    qualified = {id(m): n for n, m in net.named_modules()}
    for parent, attr, child in _targets(net, names):
        if isinstance(child, LoRALayer):
            raise ValueError(f"{qualified[id(child)]} already has a LoRA adapter: remove_lora first")
        setattr(parent, attr, (LoRAConv2d if isinstance(child, nn.Conv2d) else LoRALinear)(child, rank, alpha))
        adapted.append(f"{qualified[id(parent)]}.{attr}".lstrip("."))
    if not adapted:
        remove_lora(net)
        raise ValueError(f"the network has no linear or convolutional layers named {list(names)} to adapt (no cross-attention?)")
    return adapted


def remove_lora(net: nn.Module) -> None:
    """Put every adapted layer's original back (in place) and restore which parameters required
    gradients before :func:`add_lora`: the network is then the original."""
    for parent in list(net.modules()):
        for attr, child in list(parent.named_children()):
            if isinstance(child, LoRALayer):
                setattr(parent, attr, child.base)
    remembered = net.__dict__.pop("_lora_requires_grad", None)
    if remembered is not None:
        for n, p in net.named_parameters():
            p.requires_grad_(remembered.get(n, p.requires_grad))


def lora_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """The adapters' weights only: ``{"<layer>.down": A, "<layer>.up": B}``."""
    return {f"{name}.{part}": getattr(m, part).weight.detach().clone()
            for name, m in net.named_modules() if isinstance(m, LoRALayer) for part in ("down", "up")}


def load_lora_state(net: nn.Module, state: dict[str, torch.Tensor], rank: int, alpha: float) -> None:
    """Adapt ``net`` (:func:`add_lora` on the layers ``state`` names) and load ``state``; a
    one-line error when the state does not fit this network. Only adapter weights are loaded:
    a key whose last part is not ``down`` or ``up`` is refused before anything changes."""
    odd = sorted(k for k in state if "." not in k or k.rsplit(".", 1)[1] not in ("down", "up"))
    if odd:
        raise ValueError(f"not an adapter weight: {odd[0]!r} (a learned style holds only <layer>.down and "
                         f"<layer>.up weights)")
    layers = sorted({k.rsplit(".", 1)[0] for k in state})
    names = {name.rsplit(".", 1)[-1] for name in layers}
    adapted = add_lora(net, rank, alpha, names)
    if sorted(adapted) != layers:
        remove_lora(net)
        raise ValueError(f"the adapter was trained on other layers than this network has ({len(layers)} in the "
                         f"file, {len(adapted)} here): was it trained for another model?")
    modules = dict(net.named_modules())
    for key, value in state.items():
        layer, part = key.rsplit(".", 1)
        weight = getattr(modules[layer], part).weight
        if weight.shape != value.shape:
            remove_lora(net)
            raise ValueError(f"adapter weight {key} has shape {tuple(value.shape)}, this network's is "
                             f"{tuple(weight.shape)}: was it trained for another model?")
        with torch.no_grad():
            weight.copy_(value.to(weight.dtype))


def fingerprint(net: torch.nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of the base network's cross-attention weights (adapters
    excluded), rounded to float16 so that a pipeline and its float16 copy agree: what an adapter
    trained on a network records, so that it is never applied to another one silently."""
    h = hashlib.sha256()
    for name, p in sorted(net.state_dict().items()):
        if any(f".{layer}." in f".{name}" for layer in CROSS_ATTENTION) and ".down." not in name and ".up." not in name:
            h.update(name.replace(".base.", ".").encode())
            h.update(p.detach().half().cpu().numpy().tobytes())
    return h.hexdigest()[:16]

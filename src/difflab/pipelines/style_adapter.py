"""Style from a reference image through a trained adapter (IP-Adapter, Ye et al. 2023;
:mod:`difflab.nets.style_adapter`): ``difflab train style-adapter``, then ``generate
--style-ref IMAGE`` on a pipeline that has one. This module loads, saves and applies adapters;
:mod:`~difflab.pipelines.style_adapter_training` trains them.

Training (:func:`~difflab.pipelines.style_adapter_training.train_style_adapter`) keeps the text-to-image pipeline frozen and learns only
the adapter, with the pipeline's own denoising loss, on scenes of the trained styles whose
captions never name the style: the style can only come from the reference, and the reference
is *another* scene drawn in the same style, so its content (objects, colours, places) says
nothing about the target's and the adapter learns to pass the look alone. The caption is
dropped for 10% of the samples, as the base model was trained. No reference is dropped: w = 0
is the base model exactly, so guidance's unconditional branch needs no training.

The adapter file (safetensors; ``style_adapter.safetensors`` in a pipeline folder is used by
default) holds the adapter's weights and, in its metadata, its config, its training and the
fingerprint of the base network's cross-attention (:func:`~difflab.nets.lora.fingerprint`),
so it is never applied to another model silently.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
import numpy as np
import torch

from ..denoiser import DenoiserWrapper
from ..nets.style_adapter import StyleAdaptedNet, StyleAdapter

__all__ = ["ADAPTER_FILE", "save_style_adapter", "load_style_adapter", "adapted", "reference_pixels", "LateReference"]

#: the adapter a pipeline folder carries, used by ``--style-ref`` by default
ADAPTER_FILE = "style_adapter.safetensors"
_META = "difflab_style_adapter"


def save_style_adapter(path, adapter: StyleAdapter, base_fingerprint: str, training: dict | None = None,
                       dtype: torch.dtype | None = None) -> Path:
    """Write ``adapter`` (weights in ``dtype``, default their own) to ``path`` atomically."""
    from ..io.weights import save_weights

    state = {k: (v.to(dtype) if dtype is not None else v) for k, v in adapter.state_dict().items()}
    meta = {"config": adapter.config, "fingerprint": base_fingerprint, "training": training or {}}
    save_weights(Path(path), state, metadata={_META: json.dumps(meta)})
    return Path(path)


def load_style_adapter(path, net: torch.nn.Module, same_base: bool = True) -> tuple[StyleAdapter, dict]:
    """(adapter, metadata) from ``path`` for the base network ``net``, with one-line errors:
    not an adapter file, or (``same_base``) one trained on another model. ``same_base=False``
    only asks that the adapter's layers fit ``net``: a fine-tune's start on a continued base."""
    from ..io.weights import json_metadata, load_weights
    from ..nets.lora import fingerprint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no style adapter file {path}")
    meta = json_metadata(path, _META, "a style adapter file")
    if not isinstance(meta, dict) or not {"config", "fingerprint"} <= set(meta):
        raise ValueError(f"{path}: not a style adapter file (no {_META} metadata)")
    if same_base and fingerprint(net) != meta["fingerprint"]:
        raise ValueError(f"{path}: the style adapter was trained on another model (fingerprint {meta['fingerprint']}, "
                         f"this pipeline's {fingerprint(net)})")
    state = load_weights(path)
    try:
        c = meta["config"]
        adapter = StyleAdapter(net, c["tokens"], c["widths"], c["hidden"], c.get("attention", "decoupled"))
        adapter.load_state_dict({k: v.float() for k, v in state.items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: its weights do not fit the adapter its config describes "
                         f"({type(e).__name__}: {str(e)[:120]})") from None
    device = next(net.parameters()).device
    return adapter.to(device).eval(), meta


def adapted(denoiser, adapter: StyleAdapter):
    """A copy of ``denoiser`` whose network is ``denoiser.net`` with ``adapter``
    (:class:`~difflab.nets.style_adapter.StyleAdaptedNet`): it takes ``style_image`` or
    ``style_tokens`` and ``style_weight`` among its conditions."""
    out = copy.copy(denoiser)
    out.net = StyleAdaptedNet(denoiser.net, adapter)
    return out


class LateReference(DenoiserWrapper):
    """An adapted denoiser (:func:`adapted`) whose reference acts only at noise levels
    sigma <= ``style_sigma``: above it each sample's ``style_weight`` is 0, the base network
    alone, so the prompt lays out the content (objects, colours, places) and the reference
    draws its look on it. The layout of an image is settled at high noise and its texture at
    low noise (eDiff-I's expert denoisers, Balaji et al. 2022; ProSpect, Zhang et al. 2023, finds
    layout, colour and style controlled in that order along the steps); a reference that acts
    at every level passes some of its layout and colour too (the content leak of IP-Adapter).
    :class:`~difflab.guidance.StyleGuidance` does the same for a style named in words."""

    def __init__(self, denoiser, style_sigma: float) -> None:
        if not float(style_sigma) >= 0:
            raise ValueError(f"style_sigma must be a noise level >= 0, got {style_sigma}")
        super().__init__(denoiser)
        self.style_sigma = float(style_sigma)

    def __call__(self, x: torch.Tensor, sigma, **cond) -> torch.Tensor:
        if "style_weight" in cond:
            from ..guidance import at_or_below

            n = x.shape[0]
            late = at_or_below(sigma, n, self.style_sigma).to(x.device)
            w = torch.as_tensor(cond["style_weight"], dtype=torch.float32, device=x.device)
            cond = {**cond, "style_weight": torch.where(late, w.expand(n), torch.zeros((), device=x.device))}
        return self.denoiser(x, sigma, **cond)


def reference_pixels(image, size: int) -> torch.Tensor:
    """A reference image (path, PIL image or uint8 array) as (1, 3, size, size) in [-1, 1]."""
    from ..data.shapes import to_tensor
    from ..masks import load_image

    return to_tensor(np.array(load_image(image, "RGB", size))[None])

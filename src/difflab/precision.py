"""Training precision: float32, or bfloat16 autocast where the hardware has it.

bfloat16 (Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning Training")
keeps float32's 8-bit exponent and cuts the mantissa to 7 bits, so it needs no loss
scaling; :func:`difflab.train.fit` runs the forward pass under ``torch.autocast`` in
bfloat16 while weights, gradients and optimizer state stay float32 (the "master
weights" of Micikevicius et al. 2018), and skips a step whose loss or gradient is not
finite.

It pays only where the hardware multiplies bfloat16 natively: CUDA GPUs from Ampere
on, and CPUs with AVX512-BF16 or AMX. Elsewhere PyTorch emulates it and a step is
several times slower than in float32 (docs/benchmarks.md), so ``"auto"`` picks bf16
only where :func:`bf16_native` says so, and an explicit ``"bf16"`` on other hardware
runs with a one-line warning.
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["PRECISIONS", "bf16_native", "resolve_precision", "autocast"]

#: the names ``precision`` takes: what a step computes in ("auto": bf16 where native, else fp32)
PRECISIONS = ("fp32", "bf16", "auto")


def bf16_native(device: str | torch.device = "cpu") -> tuple[bool, str]:
    """(True, what) when ``device`` multiplies bfloat16 natively, else (False, why not)."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False, "CUDA is not available"
        major, minor = torch.cuda.get_device_capability(device)
        if major >= 8:
            return True, f"CUDA compute capability {major}.{minor}"
        return False, f"CUDA compute capability {major}.{minor} (bfloat16 needs 8.0, Ampere, or newer)"
    if device.type == "cpu":
        features = [name for name, probe in (("AMX", "_is_amx_tile_supported"), ("AVX512-BF16", "_is_avx512_bf16_supported"))
                    if getattr(torch.cpu, probe, lambda: False)()]
        if features:
            return True, f"this CPU has {' and '.join(features)}"
        return False, "this CPU has neither AVX512-BF16 nor AMX"
    return False, f"no bfloat16 detection for {device.type} devices"


def resolve_precision(precision: str, device: str | torch.device = "cpu") -> str:
    """``"fp32"`` or ``"bf16"``: ``precision`` (one of :data:`PRECISIONS`) for ``device``.
    ``"auto"`` is bf16 where :func:`bf16_native`, else fp32; ``"bf16"`` where it is
    emulated warns (it runs, slower than fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of: {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return "fp32"
    native, why = bf16_native(device)
    if precision == "auto":
        return "bf16" if native else "fp32"
    if not native:
        warnings.warn(f"bf16 on {torch.device(device).type}: {why}, so bfloat16 is emulated and slower than fp32",
                      stacklevel=2)
    return "bf16"


def autocast(precision: str, device: str | torch.device):
    """The ``torch.autocast`` context of a resolved ``precision`` ("fp32": disabled)."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")

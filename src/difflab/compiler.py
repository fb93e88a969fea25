"""torch.compile where this machine can compile, eager where it cannot.

:func:`compiled` wraps a network in ``torch.compile`` (TorchInductor: fuses the
element-wise work around each convolution, GroupNorm + SiLU, and removes Python
overhead; Ansel et al. 2024, "PyTorch 2"). Compilation is lazy and needs a toolchain
(a C++ compiler on the CPU, Triton on CUDA); :func:`compiler_available` compiles and
runs a one-line function on the device once per process to find out, so a machine
without one gets a one-line warning and the eager network instead of a failure deep
inside the first training step.

The wrapper shares the network's parameters: the network itself is what is saved,
so a compiled model's state dict has no compiler prefixes and saves, loads and resumes
like the eager one.
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["compiled", "compiler_available"]

_AVAILABLE: dict[str, tuple[bool, str]] = {}


def compiler_available(device: str | torch.device = "cpu") -> tuple[bool, str]:
    """(True, "") when ``torch.compile`` works on ``device``'s type here; else (False, why)."""
    kind = torch.device(device).type
    if kind not in _AVAILABLE:
        try:
            probe = torch.compile(lambda x: torch.sin(x) * 2 + 1, dynamic=False)
            x = torch.linspace(0, 1, 8, device=kind)
            ok = torch.allclose(probe(x), torch.sin(x) * 2 + 1)
            _AVAILABLE[kind] = (bool(ok), "" if ok else "a compiled test function gave a wrong result")
        except Exception as e:  # no compiler, no Triton, an unsupported platform ...
            first = (str(e).strip().splitlines() or [""])[0][:160]
            _AVAILABLE[kind] = (False, f"{type(e).__name__}: {first}")
    return _AVAILABLE[kind]


def compiled(module: torch.nn.Module, *, mode: str | None = None, dynamic: bool | None = None):
    """``torch.compile(module)`` when the compiler works on the module's device (see
    :func:`compiler_available`), else ``module`` itself with a one-line warning. ``mode``
    (e.g. ``"max-autotune"``) and ``dynamic`` go to ``torch.compile``."""
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    ok, why = compiler_available(device)
    if not ok:
        warnings.warn(f"torch.compile is not usable on {device.type} here ({why}); running eager", stacklevel=2)
        return module
    return torch.compile(module, mode=mode, dynamic=dynamic)

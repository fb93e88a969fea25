"""RePaint (Lugmayr et al. 2022, "RePaint: Inpainting using Denoising Diffusion
Probabilistic Models", Algorithm 1) as a sampler: the common signature plus the data to
complete (``known``) and where to regenerate (``mask``, 1 = regenerate).

:func:`difflab.sample` runs it like any other sampler (grid, starting noise, NFE count,
NaN guard); :func:`difflab.tasks.inpaint.repaint` is the task's entry point.
"""

from __future__ import annotations

import itertools

import torch

from ..processes import transition
from ..tensors import randn
from .registry import SAMPLERS, check_options

__all__ = ["sample_repaint", "jump_schedule", "forward_jump", "binary_mask"]


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def binary_mask(mask, known: torch.Tensor) -> torch.Tensor:
    """``mask`` broadcast to ``known``'s shape, checked to hold only 0 (keep) and 1 (regenerate)."""
    mask = torch.as_tensor(mask)
    if mask.shape != known.shape:
        try:
            mask = mask.expand_as(known)
        except RuntimeError:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit data of shape {tuple(known.shape)}") from None
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only 0 (keep) and 1 (generate)")
    return mask


def jump_schedule(steps: int, jump_length: int = 10, jump_n_sample: int = 10) -> list[int]:
    """The time schedule of RePaint (Lugmayr et al. 2022, sec. 4.2 and Algorithm 1),
    the ``get_schedule_jump(t_T, jump_length, jump_n_sample)`` of the authors' code.

    Times are integers from ``steps - 1`` (the noisiest level) down to ``-1`` (clean
    data); consecutive entries differ by one. Going down is a reverse (denoising) step;
    going up is the forward process. At every jump point j = 0, L, 2L, ... below
    ``steps - L`` (L = ``jump_length``), the first ``jump_n_sample - 1`` arrivals jump
    back up L steps and denoise again, so each stretch is sampled ``jump_n_sample``
    times. The number of reverse steps (= network evaluations) is
    ``steps + (jump_n_sample - 1) * L * len(range(0, steps - L, L))``.
    """
    steps = _positive("steps", steps)
    jump_length = _positive("jump_length", jump_length)
    jump_n_sample = _positive("jump_n_sample", jump_n_sample)
    jumps = {j: jump_n_sample - 1 for j in range(0, steps - jump_length, jump_length)}
    t, times = steps, []
    while t >= 1:
        t -= 1
        times.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump_length):
                t += 1
                times.append(t)
    times.append(-1)
    return times


def forward_jump(schedule, x: torch.Tensor, sigma_from: float, sigma_to: float, z: torch.Tensor) -> torch.Tensor:
    """x (scaled coordinates, level ``sigma_from``) moved up to ``sigma_to`` by the forward
    chain q(x_t | x_s) (:func:`difflab.processes.transition`): the j-step kernel, the same
    law as j one-step kernels N(sqrt(1 - beta) x, beta I) in a row. In scaled coordinates
    it adds noise of variance sigma_to^2 - sigma_from^2."""
    s, t = schedule.t_from_ve_sigma(torch.tensor([sigma_from, sigma_to], dtype=torch.float64))
    a_s, a_t = (float(schedule.alpha(u)) for u in (s, t))
    mean, std = transition(schedule, x * a_s, s, t)
    return (mean + std * z) / a_t


def _numbered(callback):
    """``callback`` with ``i`` counted over the whole run (each inner sampler call runs one step)."""
    count = itertools.count()

    def report(d: dict) -> None:
        d["i"] = next(count)
        callback(d)

    return report


def sample_repaint(
    denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    known: torch.Tensor,
    mask: torch.Tensor,
    cond: dict | None = None,
    generator=None,
    callback=None,
    jump_length: int = 10,
    jump_n_sample: int = 10,
    step: str = "ddpm",
    **options,
) -> torch.Tensor:
    """RePaint, Lugmayr et al. 2022, Algorithm 1, on the grid ``sigmas``.

    Along :func:`jump_schedule` (time tau is grid level ``sigmas[N - 1 - tau]``, N =
    ``len(sigmas) - 1``), each reverse step from level sigma_t to sigma_s does

        x_s^unknown ~ p(x_s | x_t)           one step of the sampler ``step`` (DDPM ancestral, eq. 8)
        x_s^known   ~ q(x_s | x_0 = known)   known + sigma_s eps (scaled coordinates, eq. 8)
        x_s         = m x_s^unknown + (1 - m) x_s^known                                  (eq. 9)

    with m = ``mask`` (1 = regenerate; the paper's m marks the known pixels), and each
    jump back up j levels draws x_t ~ q(x_t | x_s), the forward chain over j steps
    (sec. 4.2; :func:`forward_jump`). The last step lands on sigma = 0, where
    x^known = known, so the result equals ``known`` to the bit where ``mask`` is 0.
    ``**options`` go to ``step`` (e.g. ``variance`` for DDPM).
    """
    if step not in SAMPLERS:
        raise ValueError(f"unknown sampler {step!r}; expected one of: {', '.join(sorted(SAMPLERS))}")
    step_fn = SAMPLERS[step]
    check_options(step, step_fn, options)
    cond = cond or {}
    regenerate = binary_mask(mask, known).to(device=known.device) == 1
    known = known.to(x)
    report = None if callback is None else _numbered(callback)
    # time tau of the schedule is grid position N - 1 - tau (position N: sigma = 0)
    n_levels = len(sigmas) - 1
    path = [n_levels - 1 - tau for tau in jump_schedule(n_levels, jump_length, jump_n_sample)]
    k = 1
    while k < len(path):
        p = path[k - 1]
        if path[k] > p:  # reverse step p -> p + 1
            x_unknown = step_fn(denoiser, x, sigmas[p:p + 2], cond=cond, generator=generator, callback=report, **options)
            s_next = float(sigmas[p + 1])
            x_known = known + s_next * randn(x.shape, generator, device=x.device, dtype=x.dtype) if s_next > 0 else known
            x = torch.where(regenerate, x_unknown, x_known)
        else:  # a jump: the whole run of upward moves in one draw
            while k + 1 < len(path) and path[k + 1] < path[k]:
                k += 1
            z = randn(x.shape, generator, device=x.device, dtype=x.dtype)
            x = forward_jump(denoiser.schedule, x, float(sigmas[p]), float(sigmas[path[k]]), z)
        k += 1
    return x

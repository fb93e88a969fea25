"""Inpainting for any trained model: imputation by replacement and RePaint, on tensors in
the model's space (pixel-space or latent, with conditioning passed through as ``cond``).

One mask convention everywhere: 1 (white in a mask image) = regenerate, 0 = keep
(:mod:`difflab.masks` reads and checks mask images).

- :class:`Inpainter`: imputation by replacement (Song et al. 2021, app. I.2), a denoiser
  wrapper, so it works with every sampler. Known values ``known`` at the positions where
  ``mask == 0`` are kept. At every network evaluation at noise level sigma the known part
  of the state is replaced by a draw of the forward process at that level, known + sigma z
  (in the scaled coordinates of the samplers), so the model sees a state consistent with
  the observation; the known part of its estimate of x_0 is then pasted back exactly:

      x_in = (1 - m) (known + sigma z) + m x,      D'(x; sigma) = (1 - m) known + m D(x_in; sigma).

  Because every sampler ends with an x_0 estimate, the final sample equals ``known`` to
  the bit outside the mask. A fresh z is drawn at every evaluation, from the Inpainter's
  own streams: with an int seed, sample i's stream is seeded ``seed +
  STREAM_OFFSETS["replacement"] + i`` (:mod:`difflab.tensors`), so a result does not
  depend on the global RNG or the batch. The streams advance with every evaluation: an
  Inpainter is one run, and a second run needs a new one (as
  :func:`difflab.pipelines.editing.inpaint_image` and the evaluation build).

- :func:`repaint`: RePaint (Lugmayr et al. 2022, Algorithm 1), replacement plus
  *resampling*: after a reverse step the state is noised back up by the forward process
  and denoised again, so the generated region has time to agree with the known one
  ("harmonise"). Replacement alone conditions each step on a freshly noised known region
  that the generated part never saw, which biases the result; resampling removes that bias
  as the number of resamplings grows. The sampler itself is
  :func:`difflab.samplers.sample_repaint`, run by :func:`difflab.sample`.

Images (files, masks, paste-back of the kept pixels) are the pipelines' job:
:func:`difflab.pipelines.editing.inpaint_image`.
"""

from __future__ import annotations

import torch

from ..samplers import sample, sample_repaint
from ..samplers.repaint import binary_mask
from ..tensors import GeneratorLike, randn, stream_generators

__all__ = ["Inpainter", "repaint", "METHODS"]

#: inpainting methods: RePaint, or replacement around any sampler
METHODS = ("repaint", "replace")


class Inpainter:
    """A denoiser that conditions ``denoiser`` on ``known`` outside ``mask`` (1 = generate)."""

    def __init__(self, denoiser, known: torch.Tensor, mask: torch.Tensor, generator: GeneratorLike = None) -> None:
        if not hasattr(denoiser, "schedule"):
            raise TypeError("denoiser must be a difflab Denoiser (it needs a .schedule)")
        self.denoiser = denoiser
        self.schedule = denoiser.schedule
        self.known = known
        self.mask = binary_mask(mask, known).to(known.dtype)
        if isinstance(generator, int) and not isinstance(generator, bool):
            generator = stream_generators(generator, known.shape[0], "replacement")
        self.generator = generator

    def __call__(self, x: torch.Tensor, sigma, **cond) -> torch.Tensor:
        m = self.mask.to(x)
        keep = 1 - m
        known = self.known.to(x)
        z = randn(known.shape, self.generator, device=x.device, dtype=x.dtype)
        sigma_t = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        sigma_t = sigma_t.reshape(-1, *([1] * (x.ndim - 1))) if sigma_t.ndim else sigma_t
        x_in = keep * (known + sigma_t * z) + m * x
        x0 = self.denoiser(x_in, sigma, **cond)
        return keep * known + m * x0

    def eval(self):
        if hasattr(self.denoiser, "eval"):
            self.denoiser.eval()
        return self

    def train(self, mode: bool = True):
        if hasattr(self.denoiser, "train"):
            self.denoiser.train(mode)
        return self


def repaint(
    denoiser,
    known: torch.Tensor,
    mask,
    steps: int = 50,
    *,
    jump_length: int = 10,
    jump_n_sample: int = 10,
    sampler: str = "ddpm",
    spacing: str | None = None,
    sigmas: torch.Tensor | None = None,
    generator: GeneratorLike = None,
    cond: dict | None = None,
    callback=None,
    return_info: bool = False,
    **options,
):
    """Inpaint ``known`` where ``mask`` is 1 with RePaint (Lugmayr et al. 2022, Algorithm 1).

    Args:
        denoiser: a :class:`difflab.Denoiser` (or any ``(x, sigma, **cond) -> x0`` with a
            ``.schedule``), pixel-space or latent (then ``known`` is a latent).
        known: the data to complete, (N, ...) in model coordinates; only its values where
            ``mask`` is 0 are used.
        mask: 0 (keep) / 1 (regenerate), broadcastable to ``known``.
        steps: levels of the respaced grid (``make_grid(schedule, steps, spacing)``,
            trailing DDPM spacing by default; or pass ``sigmas``). ``steps = T`` on a DDPM
            table is the paper's full chain.
        jump_length, jump_n_sample: the paper's jump length j and number of resamplings r
            (:func:`jump_schedule`; its defaults 10 and 10, with 250 steps in the paper).
            Jumps count levels of the *respaced* grid: with ``steps`` = T / k a jump of j
            levels spans j k table entries and is drawn in one go from the multi-step
            forward kernel, and the reverse step between two grid levels is a DDPM step on
            the sub-grid. ``jump_n_sample = 1`` is replacement without resampling.
        sampler: the reverse step, one step of this sampler between two grid levels
            (``"ddpm"`` as in the paper; ``**options`` go to it, e.g. ``variance``).
        generator: int seed (per-sample streams: a batch of N equals N batches of one),
            a ``torch.Generator`` or one per sample.
        cond: conditioning passed to the network (e.g. text context for a prompt-guided fill).
        callback: called once per reverse step with the sampler's dict (``i`` counts
            the reverse steps of the whole run, jumps included).

    Returns:
        the completed data (equal to ``known`` to the bit where ``mask`` is 0), and a
        :class:`~difflab.samplers.SampleInfo` if ``return_info``.
    """
    if not hasattr(denoiser, "schedule"):
        raise TypeError("denoiser must be a difflab Denoiser (it needs a .schedule)")
    if not isinstance(known, torch.Tensor) or known.ndim < 1:
        raise TypeError("known must be a tensor of shape (batch, ...)")
    binary_mask(mask, known)
    noise = randn(known.shape, generator, device=known.device, dtype=known.dtype)
    x, info = sample(denoiser, noise, sample_repaint, steps, generator=generator, spacing=spacing, sigmas=sigmas,
                     cond=cond, callback=callback, return_info=True, known=known, mask=mask, jump_length=jump_length,
                     jump_n_sample=jump_n_sample, step=sampler, **options)
    info.sampler = f"repaint-{sampler}"
    return (x, info) if return_info else x



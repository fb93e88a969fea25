"""The diffusion classifier (Li et al. 2023, "Your diffusion model is secretly a zero-shot
classifier"; Clark & Jaini 2023): a class-conditional model's own denoising error ranks
the classes, here on the known part of partly hidden data, so an inpainting run need not
be told the class of what it completes."""

from __future__ import annotations

import torch

from ..samplers.repaint import binary_mask
from ..tensors import GeneratorLike, generators, randn

__all__ = ["infer_label", "LABEL_SIGMAS"]

#: noise levels (VE sigma, data in [-1, 1]) at which :func:`infer_label` compares the classes
LABEL_SIGMAS = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8)


@torch.no_grad()
def infer_label(denoiser, known: torch.Tensor, mask, num_classes: int, *, sigmas=LABEL_SIGMAS, repeats: int = 2,
                generator: GeneratorLike = 0, cond_key: str = "labels") -> tuple[torch.Tensor, torch.Tensor]:
    """The class of each partly known sample, by the model's own denoising error on the
    known part: a diffusion classifier (Li et al. 2023, "Your diffusion model is secretly a
    zero-shot classifier", eq. 4; Clark & Jaini 2023) restricted to the pixels ``mask == 0``.

    For each noise level sigma in ``sigmas`` and each of ``repeats`` noise draws eps (the
    same eps for every class, which cancels most of the Monte-Carlo noise of the
    comparison), x = x_fill + sigma eps and

        err(c) = sum_{sigma, eps} || (1 - m) (D(x; sigma, c) - known) ||^2,

    label = argmin_c err(c): the class under which the visible part is most probable (the
    error is the class-conditional ELBO's sum, up to constants). x_fill is ``known`` with the
    hidden part set to the mean of its visible values, so the hidden part carries no
    information. Costs ``len(sigmas) * repeats * num_classes`` evaluations per sample.
    ``denoiser(x, sigma, **{cond_key: labels})``: a class-conditional
    :class:`~difflab.Denoiser`. Returns (labels (N,), err (N, num_classes)).
    """
    m = binary_mask(mask, known).to(device=known.device, dtype=known.dtype).expand_as(known)
    keep = 1 - m
    n = known.shape[0]
    dims = tuple(range(1, known.ndim))
    mean = (known * keep).sum(dims, keepdim=True) / keep.sum(dims, keepdim=True).clamp_min(1)
    x_fill = torch.where(m.bool(), mean.expand_as(known), known)
    err = torch.zeros(n, num_classes, dtype=torch.float64, device=known.device)
    generator = generators(generator, n) if isinstance(generator, int) and not isinstance(generator, bool) else generator
    if isinstance(repeats, bool) or int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    for sigma in sigmas:
        for _ in range(repeats):
            x = x_fill + float(sigma) * randn(known.shape, generator, device=known.device, dtype=known.dtype)
            level = torch.full((n,), float(sigma), device=known.device)
            for c in range(num_classes):
                labels = torch.full((n,), c, dtype=torch.long, device=known.device)
                d = denoiser(x, level, **{cond_key: labels})
                err[:, c] += ((d - known) ** 2 * keep).sum(dims).double()
    return err.argmin(1), err

"""Inpainting for any trained model: imputation by replacement and RePaint.

One mask convention everywhere: 1 (white in a mask image) = regenerate, 0 = keep
(:mod:`difflab.masks` reads and checks mask images).

Two methods, both around any :class:`~difflab.Denoiser` (pixel-space or latent, with
conditioning passed through as ``cond``):

- :class:`Inpainter`: imputation by replacement (Song et al. 2021, app. I.2), a denoiser
  wrapper, so it works with every sampler. Known values ``known`` at the positions where
  ``mask == 0`` are kept. At every network evaluation at noise level sigma the known part
  of the state is replaced by a draw of the forward process at that level, known + sigma z
  (in the scaled coordinates of the samplers), so the model sees a state consistent with
  the observation; the known part of its estimate of x_0 is then pasted back exactly:

      x_in = (1 - m) (known + sigma z) + m x,      D'(x; sigma) = (1 - m) known + m D(x_in; sigma).

  Because every sampler ends with an x_0 estimate, the final sample equals ``known`` to
  the bit outside the mask. The noise z is drawn once per run (per sample), the choice of
  Song et al.'s PC imputation for a smooth trajectory.

- :func:`repaint`: RePaint (Lugmayr et al. 2022, Algorithm 1), replacement plus
  *resampling*: after a reverse step the state is noised back up by the forward process
  and denoised again, so the generated region has time to agree with the known one
  ("harmonise"). Replacement alone conditions each step on a freshly noised known region
  that the generated part never saw, which biases the result; resampling removes that bias
  as the number of resamplings grows.

:func:`inpaint_image` runs either method on an image file / PIL image / uint8 array with
a mask image, through optional ``encode`` / ``decode`` callables for latent models, and
pastes the known pixels back to the bit.

A class-conditional model need not be told the class of what it completes:
:func:`infer_label` reads it off the known pixels with the model itself (a diffusion
classifier), and the completion is then sampled from the conditional model.
"""

from __future__ import annotations

import itertools
import math

import torch

from .grids import make_grid
from .masks import (EditResult, check_feather, codec, decode_image, encode_image, latent_mask, load_image, load_mask,
                    paste_back, positive_int)
from .processes import transition
from .samplers import SAMPLERS, SampleInfo, check_options, sample
from .samplers._common import CountingDenoiser
from .tensors import GeneratorLike, generators, randn, stream_generators

__all__ = ["Inpainter", "jump_schedule", "repaint", "sample_repaint", "inpaint_image", "infer_label", "METHODS",
           "LABEL_SIGMAS"]

#: inpainting methods of :func:`inpaint_image`
METHODS = ("repaint", "replace")
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
    m = _binary_mask(mask, known).to(device=known.device, dtype=known.dtype).expand_as(known)
    keep = 1 - m
    n = known.shape[0]
    dims = tuple(range(1, known.ndim))
    mean = (known * keep).sum(dims, keepdim=True) / keep.sum(dims, keepdim=True).clamp_min(1)
    x_fill = torch.where(m.bool(), mean.expand_as(known), known)
    err = torch.zeros(n, num_classes, dtype=torch.float64, device=known.device)
    generator = generators(generator, n) if isinstance(generator, int) and not isinstance(generator, bool) else generator
    repeats = positive_int("repeats", repeats)
    for sigma in sigmas:
        for _ in range(repeats):
            x = x_fill + float(sigma) * randn(known.shape, generator, device=known.device, dtype=known.dtype)
            level = torch.full((n,), float(sigma), device=known.device)
            for c in range(num_classes):
                labels = torch.full((n,), c, dtype=torch.long, device=known.device)
                d = denoiser(x, level, **{cond_key: labels})
                err[:, c] += ((d - known) ** 2 * keep).sum(dims).double()
    return err.argmin(1), err


def _binary_mask(mask, known: torch.Tensor) -> torch.Tensor:
    """``mask`` broadcast to ``known``'s shape, checked to hold only 0 and 1."""
    mask = torch.as_tensor(mask)
    if mask.shape != known.shape:
        try:
            mask = mask.expand_as(known)
        except RuntimeError:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit data of shape {tuple(known.shape)}") from None
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only 0 (keep) and 1 (generate)")
    return mask


class Inpainter:
    """A denoiser that conditions ``denoiser`` on ``known`` outside ``mask`` (1 = generate)."""

    def __init__(self, denoiser, known: torch.Tensor, mask: torch.Tensor, generator: GeneratorLike = None) -> None:
        if not hasattr(denoiser, "schedule"):
            raise TypeError("denoiser must be a difflab Denoiser (it needs a .schedule)")
        self.denoiser = denoiser
        self.schedule = denoiser.schedule
        self.known = known
        self.mask = _binary_mask(mask, known).to(known.dtype)
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


# ----------------------------------------------------------------------------------
# RePaint
# ----------------------------------------------------------------------------------


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
    steps = positive_int("steps", steps)
    jump_length = positive_int("jump_length", jump_length)
    jump_n_sample = positive_int("jump_n_sample", jump_n_sample)
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


def _forward_jump(schedule, x: torch.Tensor, sigma_from: float, sigma_to: float, z: torch.Tensor) -> torch.Tensor:
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
    sampler: str = "ddpm",
    **options,
) -> torch.Tensor:
    """RePaint, Lugmayr et al. 2022, Algorithm 1, on the grid ``sigmas`` (the sampler
    signature plus ``known`` and ``mask``; :func:`repaint` is the entry point).

    Along :func:`jump_schedule` (time tau is grid level ``sigmas[N - 1 - tau]``, N =
    ``len(sigmas) - 1``), each reverse step from level sigma_t to sigma_s does

        x_s^unknown ~ p(x_s | x_t)           one step of ``sampler`` (DDPM ancestral, eq. 8)
        x_s^known   ~ q(x_s | x_0 = known)   known + sigma_s eps (scaled coordinates, eq. 8)
        x_s         = m x_s^unknown + (1 - m) x_s^known                                  (eq. 9)

    with m = ``mask`` (1 = regenerate; the paper's m marks the known pixels), and each
    jump back up j levels draws x_t ~ q(x_t | x_s), the forward chain over j steps
    (sec. 4.2; :func:`_forward_jump`). The last step lands on sigma = 0, where
    x^known = known, so the result equals ``known`` to the bit where ``mask`` is 0.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of: {', '.join(sorted(SAMPLERS))}")
    step = SAMPLERS[sampler]
    check_options(sampler, step, options)
    cond = cond or {}
    regenerate = _binary_mask(mask, known).to(device=known.device) == 1
    known = known.to(x)
    report = None if callback is None else _numbered(callback)
    # time tau of the schedule is grid position N - 1 - tau (position N: sigma = 0)
    n_levels = len(sigmas) - 1
    path = [n_levels - 1 - tau for tau in jump_schedule(n_levels, jump_length, jump_n_sample)]
    k = 1
    while k < len(path):
        p = path[k - 1]
        if path[k] > p:  # reverse step p -> p + 1
            x_unknown = step(denoiser, x, sigmas[p:p + 2], cond=cond, generator=generator, callback=report, **options)
            s_next = float(sigmas[p + 1])
            x_known = known + s_next * randn(x.shape, generator, device=x.device, dtype=x.dtype) if s_next > 0 else known
            x = torch.where(regenerate, x_unknown, x_known)
        else:  # a jump: the whole run of upward moves in one draw
            while k + 1 < len(path) and path[k + 1] < path[k]:
                k += 1
            z = randn(x.shape, generator, device=x.device, dtype=x.dtype)
            x = _forward_jump(denoiser.schedule, x, float(sigmas[p]), float(sigmas[path[k]]), z)
        k += 1
    return x


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
    _binary_mask(mask, known)
    if sigmas is None:
        sigmas = make_grid(denoiser.schedule, steps, spacing)
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    if sigmas.ndim != 1 or len(sigmas) < 2 or sigmas[-1] != 0 or not (sigmas[:-1] > sigmas[1:]).all():
        raise ValueError("sigmas must be a strictly decreasing 1-d grid that ends at 0")
    x = randn(known.shape, generator, device=known.device, dtype=known.dtype) * math.sqrt(1.0 + float(sigmas[0]) ** 2)
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = stream_generators(generator, known.shape[0], "steps")
    counted = CountingDenoiser(denoiser)
    was_training = getattr(getattr(denoiser, "net", None), "training", False)
    if hasattr(denoiser, "eval"):
        denoiser.eval()
    try:
        with torch.no_grad():
            x = sample_repaint(counted, x, sigmas, known=known, mask=mask, cond=cond, generator=generator,
                               callback=callback, jump_length=jump_length, jump_n_sample=jump_n_sample,
                               sampler=sampler, **options)
    finally:
        if was_training:
            denoiser.train()
    if return_info:
        return x, SampleInfo(nfe=counted.nfe, sigmas=sigmas, sampler=f"repaint-{sampler}")
    return x


# ----------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------


def inpaint_image(
    denoiser,
    image,
    mask,
    *,
    method: str = "repaint",
    steps: int = 50,
    n: int = 1,
    sampler: str = "ddpm",
    jump_length: int = 10,
    jump_n_sample: int = 10,
    spacing: str | None = None,
    generator: GeneratorLike = None,
    cond: dict | None = None,
    encode=None,
    decode=None,
    mode: str | None = None,
    size=None,
    feather: float = 0.0,
    **options,
) -> EditResult:
    """Regenerate the white part of ``mask`` in ``image``; keep the rest to the bit.

    Args:
        denoiser: the model (pixel-space, or latent with ``encode`` / ``decode``); wrap it
            in :class:`~difflab.guidance.ClassifierFreeGuidance` for guided fills.
        image: a path, PIL image or uint8 array (H, W) / (H, W, C)
            (:func:`difflab.masks.load_image`; ``mode`` "L" / "RGB" converts).
        size: the size the model works at ((H, W), an int, or a data shape (C, H, W)):
            an image of another size is refused, a file's from its header before it is
            decoded. A pixel-space network runs on any size but learned only one: pass
            its ``config["data"]["shape"]``.
        mask: a path, PIL image, array or tensor of the image's size; white (255, or 1 /
            True) = regenerate, black = keep, grey thresholded at half
            (:func:`difflab.masks.check_mask`).
        method: ``"repaint"`` (:func:`repaint`, with ``jump_length``, ``jump_n_sample``,
            ``sampler`` the reverse step) or ``"replace"`` (:class:`Inpainter` around
            ``sampler``, no resampling).
        steps, spacing: the grid (:func:`difflab.grids.make_grid`).
        n: how many completions (sample i uses seed ``generator + i``).
        cond: conditioning for the network, batched to ``n`` (e.g. text context).
        encode, decode: pixels (N, C, H, W) in [0, 1] -> model space and back; default the
            [-1, 1] data range (:func:`difflab.masks.pixel_codec` builds them from a model
            config). A latent of another size gets the mask max-pooled to it
            (:func:`difflab.masks.latent_mask`).
        feather: seam blur radius in pixels, inside the regenerated region only
            (:func:`difflab.masks.feather_weights`), at most the image's larger side
            (checked before sampling); the kept pixels stay bit-exact.
        **options: the sampler's options (``variance``, ``eta`` ...).

    Returns:
        an :class:`~difflab.masks.EditResult`: uint8 images (n, H, W, C) and ``info``
        (method, steps, nfe, ...).
    """
    if method not in METHODS:
        raise ValueError(f"unknown inpainting method {method!r}; expected one of: {', '.join(METHODS)}")
    encode, decode = codec(encode, decode)
    pixels = load_image(image, mode, size)
    m = load_mask(mask, pixels.shape[:2])
    feather = check_feather(feather, pixels.shape[:2])
    if not m.any():
        raise ValueError("mask is all black (0 = keep): nothing to regenerate; white (255) marks the region to regenerate")
    z = encode_image(encode, pixels, n)
    zm = (latent_mask(m, z.shape) if z.shape[-2:] != m.shape[-2:] else m).to(z).expand_as(z)
    if method == "repaint":
        x, info = repaint(denoiser, z, zm, steps, jump_length=jump_length, jump_n_sample=jump_n_sample,
                          sampler=sampler, spacing=spacing, generator=generator, cond=cond, return_info=True, **options)
    else:
        model = Inpainter(denoiser, z, zm, generator=generator)
        x, info = sample(model, z.shape, sampler, steps, generator=generator, spacing=spacing, cond=cond,
                         return_info=True, **options)
    images = paste_back(decode_image(decode, x, pixels), pixels, m, feather)
    details = {"method": method, "sampler": sampler, "steps": len(info.sigmas) - 1, "nfe": info.nfe,
               "regenerated_fraction": float(m.mean())}
    if method == "repaint":
        details.update(jump_length=jump_length, jump_n_sample=jump_n_sample)
    return EditResult(images, details)

"""Super-resolution in the manner of SR3 (Saharia et al. 2021), with the noise-conditioning
augmentation of cascaded diffusion models (Ho et al. 2022) and a residual target (SRDiff,
Li et al. 2022).

The task: from a low-resolution image y (h x w) recover x (s h x s w), s = ``scale`` (4).

Degradation (:func:`downscale`). y = Q(D_s(x)): D_s is bicubic resampling with an
antialiasing filter widened by s (``torch.nn.functional.interpolate(mode="bicubic",
antialias=True)``, the filter of PIL's ``Image.resize(BICUBIC)``), Q rounds to 8-bit
pixels. Bicubic upsampling U_s (:func:`upsample`, no antialiasing, clipped) is the
baseline and the network's conditioning.

Model. SR3 (Saharia et al. 2021, sec. 2, eq. 2-4) trains a conditional denoiser
f(x_t, t, U_s(y)) on x_t = alpha_t x_0 + sigma_t eps with the conditioning image
concatenated to x_t as extra input channels. Here the diffused quantity is the residual

    x_0 = k (x - U_s(y)),        k = ``residual_scale``,

the detail bicubic upsampling misses (SRDiff, Li et al. 2022, sec. 3.2). Its
distribution is concentrated near 0 and much simpler than that of x, so a small model
learns it in CPU minutes; k (4 for the shipped model) brings its standard deviation
(about 0.12 in [-1, 1] units on the training photos) to that of ordinary images (0.5),
so the cosine table spends its steps where the residual's structure lives. The
network predicts v = alpha_t eps - sigma_t x_0 (Salimans & Ho 2022, sec. 4), bounded
at every noise level, like the other image models of difflab.

Noise-conditioning augmentation (Ho et al. 2022, sec. 3.2; Saharia et al. 2022,
"Imagen", sec. 2.5). In training the low-resolution image is corrupted before it is
upsampled,

    y_tau = y + tau z,   z ~ N(0, I),   tau ~ U(0, tau_max),

and the network sees c = [U_s(y_tau), tau / tau_max] (3 image channels and one constant
channel for the level): 4 concatenated channels. The target residual stays that of the
clean y. The model thus learns not to trust the exact pixel values of its conditioning,
which makes it robust to the artefacts of a first stage (a text-to-image model's
64 x 64 output) and to compression. At sampling a small fixed level ``aug_level``
(0.02 for the shipped model, about 2.5 of 255 grey levels) is used, its noise drawn
from the seed.

Sampling. The default is DDIM with eta = 0 (Song, Meng & Ermon 2021, eq. 12), a
deterministic map from the starting noise to the image; with a fixed ``seed`` the
output is a pure function of the input. The defaults, one step from temperature 0
(:func:`superresolve`), give the model's posterior mean E[x_0 | y], the estimate of least
squared error: on the held-out photos it beats bicubic in PSNR and SSIM, while samples
(temperature 1, 20 steps) are sharper but farther from the original (docs/superres.md). x = U_s(y) + x_0 / k, clipped to [-1, 1].
The network is convolutional (its one attention layer sits in the middle block), so a
model trained on 32 x 32 crops upsamples any size: a 64 x 64 text-to-image output
becomes 256 x 256 (the cascade's second stage).

Tiles. Memory is bounded whatever the image size: :func:`superresolve` cuts an input
larger than ``tile`` x ``tile`` pixels into overlapping tiles, samples each on its own
and blends their outputs with weights that ramp linearly across the overlap (the
usual feathered mosaic). The starting noise and the augmentation noise are drawn for
the whole image once and cropped per tile, and each tile's conditioning is the exact
crop of the whole image's, so a tile sees the same inputs as the untiled run; the
tiles differ from it only through what the network computes over the whole image,
the GroupNorm statistics and the middle attention layer. An input of at most one tile
is computed in one piece.

Loading a model folder and images of any format: :mod:`difflab.pipelines.superres`;
the held-out evaluation: :mod:`difflab.evaluate.superres`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..limits import check_pixels
from ..tensors import append_dims, randn, stream_generators

__all__ = [
    "SuperResolver", "downscale", "upsample", "condition", "superresolve", "quantize_8bit", "check_scale",
    "to_tensor", "to_uint8", "DEFAULT_STEPS", "DEFAULT_TEMPERATURE", "DEFAULT_TILE", "DEFAULT_OVERLAP",
]

#: sampler steps of :func:`~difflab.pipelines.superres.upscale` by default
DEFAULT_STEPS = 1
#: starting-noise temperature of :func:`~difflab.pipelines.superres.upscale` by default (see :func:`superresolve`)
DEFAULT_TEMPERATURE = 0.0
#: side of a tile of :func:`superresolve` in input pixels (its output is ``scale`` times
#: wider): at about 1.5 KB of activations per output pixel (:func:`superresolve`), a
#: 512 x 512 output tile of the x4 model costs about 0.4 GB
DEFAULT_TILE = 128
#: overlap of neighbouring tiles in input pixels (64 output pixels at x4), over which
#: their outputs are blended
DEFAULT_OVERLAP = 16


# -- images <-> tensors --------------------------------------------------------------------
def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) in [-1, 1] -> uint8 (H, W, 3), clipped and rounded."""
    return x[0].add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round [-1, 1] values to the 256 levels of an 8-bit image."""
    return x.add(1.0).mul(127.5).round().clamp(0, 255).div(127.5).sub(1.0)


def check_scale(scale) -> int:
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    return int(scale)


# -- degradation and the bicubic baseline ----------------------------------------------------
def downscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    """D_s: antialiased bicubic downsampling of float (N, C, H, W) by ``scale`` (H, W divisible by it)."""
    scale = check_scale(scale)
    if x.shape[-1] % scale or x.shape[-2] % scale:
        raise ValueError(f"image size {tuple(x.shape[-2:])} must be divisible by scale {scale}")
    return F.interpolate(x, size=(x.shape[-2] // scale, x.shape[-1] // scale), mode="bicubic",
                         align_corners=False, antialias=True)


def upsample(y: torch.Tensor, scale: int) -> torch.Tensor:
    """U_s: bicubic upsampling (Keys 1981, a = -0.75 as in PyTorch) of float (N, C, h, w) in [-1, 1], clipped."""
    scale = check_scale(scale)
    return F.interpolate(y, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1.0, 1.0)


# -- the model ------------------------------------------------------------------------------
@dataclass
class SuperResolver:
    """A super-resolution model: the :class:`~difflab.Denoiser` of the residual and the
    ``"superres"`` entry of its config (``scale``, ``residual_scale``, ``aug_max``,
    ``aug_level``)."""

    denoiser: object
    config: dict

    @property
    def scale(self) -> int:
        return int(self.config["scale"])


def condition(y: torch.Tensor, scale: int, tau: torch.Tensor, aug_max: float, noise: torch.Tensor) -> torch.Tensor:
    """The network's concatenated input c = [U_s(y + tau z), tau / tau_max] (N, 4, s h, s w).

    ``tau`` (N,) is the augmentation level per sample, ``noise`` z of y's shape
    (Ho et al. 2022, sec. 3.2; see the module docstring)."""
    tau = torch.as_tensor(tau, dtype=y.dtype)
    up = upsample(y + append_dims(tau, y.ndim) * noise, scale)
    level = append_dims(tau / aug_max, y.ndim).expand(y.shape[0], 1, *up.shape[-2:])
    return torch.cat([up, level.to(up.dtype)], dim=1)


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Windows [a, b) of side ``tile`` that cover 0 .. ``length``, spread evenly with
    consecutive ones overlapping by at least ``overlap``; one window if ``length`` <= ``tile``."""
    if length <= tile:
        return [(0, length)]
    n = -(-(length - overlap) // (tile - overlap))  # ceil: then the stride (length - tile) / (n - 1) <= tile - overlap
    return [(i * (length - tile) // (n - 1), i * (length - tile) // (n - 1) + tile) for i in range(n)]


def _blend_weights(spans: list[tuple[int, int]], length: int, ramp: int) -> list[torch.Tensor]:
    """One weight vector per window [a, b) along an axis of ``length``, summing to 1 at
    every position: a window's weight rises linearly over ``ramp`` positions from each
    edge it shares with a neighbour (1 / (2 ramp) at the edge, 1 from ``ramp`` inside),
    and is 1 elsewhere. A single window weighs exactly 1."""
    raw = []
    for a, b in spans:
        i = torch.arange(a, b, dtype=torch.float64) + 0.5
        w = torch.ones(b - a, dtype=torch.float64)
        if a > 0 and ramp > 0:
            w = torch.minimum(w, (i - a) / ramp)
        if b < length and ramp > 0:
            w = torch.minimum(w, (b - i) / ramp)
        raw.append(w)
    total = torch.zeros(length, dtype=torch.float64)
    for (a, b), w in zip(spans, raw):
        total[a:b] += w
    return [w / total[a:b] for (a, b), w in zip(spans, raw)]


def _tile_size(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def superresolve(model, y: torch.Tensor, *, steps: int = DEFAULT_STEPS, sampler: str = "ddim", seed: int = 0,
                 aug_level: float | None = None, temperature: float = DEFAULT_TEMPERATURE,
                 tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, **options) -> torch.Tensor:
    """x = U_s(y) + x_0 / k with x_0 sampled from the model given c (module docstring).

    ``y`` float (N, 3, h, w) in [-1, 1]; returns float (N, 3, s h, s w) in [-1, 1].
    Sample i uses seed ``seed + i`` for its starting noise and its augmentation noise.
    ``temperature`` tau_T scales the starting noise, x_T = tau_T z (Kingma & Dhariwal
    2018, sec. 5): 1 draws samples from the model, 0 follows the deterministic DDIM
    path from the centre of the prior, close to the posterior mean E[x_0 | y], the
    minimum-distortion end of the perception-distortion trade-off (Blau & Michaeli 2018).

    Both sizes, h x w and s h x s w, are checked against the ``pixels`` limit
    (:mod:`difflab.limits`) before anything is drawn. An input wider or taller than
    ``tile`` pixels is sampled in tiles of ``tile`` x ``tile`` that overlap by at least
    ``overlap`` pixels (module docstring), each one with every sampler step before the
    next: the network's activations, about 1.5 KB per output pixel for the x4 model (the
    skip connections kept for the upsampling path plus the working tensors of a
    full-resolution residual block, some 370 float32 values), are then bounded by the
    tile, and what grows with the image is the starting noise and the result, 24 bytes
    per output pixel. The step noise of a stochastic sampler continues each sample's
    stream (seeded as :func:`difflab.sample` seeds it) from one tile to the next.
    """
    if not 0.0 <= temperature <= 1.0:
        raise ValueError(f"temperature must be in [0, 1], got {temperature}")
    from ..samplers import sample

    if not isinstance(model, SuperResolver):
        raise TypeError(f"model must be a SuperResolver (difflab.pipelines.superres.load_superres), "
                        f"got {type(model).__name__}")
    m = model
    cfg = m.config
    if y.ndim != 4 or y.shape[1] != 3:
        raise ValueError(f"the low-resolution images must have shape (N, 3, h, w), got {tuple(y.shape)}")
    aug_level = float(cfg["aug_level"] if aug_level is None else aug_level)
    if not 0.0 <= aug_level <= cfg["aug_max"]:
        raise ValueError(f"aug_level must be in [0, {cfg['aug_max']}] (the levels seen in training), got {aug_level}")
    tile = _tile_size("tile", tile, 1)
    overlap = _tile_size("overlap", overlap, 0)
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than tile ({tile})")
    s, k = m.scale, float(cfg["residual_scale"])
    n, h, w = y.shape[0], y.shape[-2], y.shape[-1]
    check_pixels(h, w, "low-resolution image")
    check_pixels(s * h, s * w, f"x{s} upscaled image")
    y = y.float()
    z = randn(y.shape, stream_generators(seed, y.shape[0], "augmentation"))  # its own per-sample streams
    tau = torch.full((n,), aug_level)
    noise = randn((n, 3, s * h, s * w), seed).mul_(temperature)
    steps_noise = stream_generators(seed, n, "steps")  # the streams sample(generator=seed) would use
    rows, cols = _spans(h, tile, overlap), _spans(w, tile, overlap)
    row_w = _blend_weights([(s * a, s * b) for a, b in rows], s * h, s * overlap)
    col_w = _blend_weights([(s * a, s * b) for a, b in cols], s * w, s * overlap)
    out = torch.zeros(n, 3, s * h, s * w)
    reach = 2  # the bicubic kernel's: U_s of a window widened by 2 pixels is exact in the window
    for (r0, r1), wr in zip(rows, row_w):
        for (c0, c1), wc in zip(cols, col_w):
            a0, a1, b0, b1 = max(r0 - reach, 0), min(r1 + reach, h), max(c0 - reach, 0), min(c1 + reach, w)
            inner = (..., slice(s * (r0 - a0), s * (r1 - a0)), slice(s * (c0 - b0), s * (c1 - b0)))
            window = (..., slice(s * r0, s * r1), slice(s * c0, s * c1))
            c = condition(y[..., a0:a1, b0:b1], s, tau, cfg["aug_max"], z[..., a0:a1, b0:b1])[inner]
            x0 = sample(m.denoiser, noise[window], sampler, steps, generator=steps_noise, cond={"concat": c}, **options)
            if not torch.isfinite(x0).all():
                raise FloatingPointError("the super-resolution model produced NaN or inf")
            x = upsample(y[..., a0:a1, b0:b1], s)[inner] + x0.float().cpu() / k
            out[window] += (wr[:, None] * wc[None, :]).float() * x
    return out.clamp_(-1.0, 1.0)

"""unCLIP (Ramesh et al. 2022, "DALL-E 2"): text -> CLIP image embedding -> image, by composition.

    prompt y --CLIP text side--> z_t,  --text encoder--> tokens c        (CLIPEncoder, difflab.text)
    P(z_i | y):   the diffusion prior: z_i from noise, given (c, z_t)    (sec. 2.2)
    P(x | z_i, y): the decoder: latents from noise, given (z_i, c)       (sec. 2.1)
    latents --autoencoder decoder--> image x

so that P(x | y) = P(x | z_i, y) P(z_i | y) (the paper's eq. 1: z_i is a deterministic
function of x, so the chain is exact).

- The **CLIP encoder** (:class:`~difflab.pipelines.clip.CLIPEncoder`) is frozen.
- The **prior** is a :class:`~difflab.Denoiser` around a
  :class:`~difflab.nets.prior.PriorTransformer` that predicts the clean embedding (the
  paper: "we find it better to predict the unnoised z_i directly"), trained with
  ``|| f(z_i^(t), t, y) - z_i ||^2`` on image embeddings *standardised per dimension*
  (``z = (z_i - mean) / std``, statistics of the training images, stored in the
  folder). Text is dropped (both c and z_t replaced by the empty prompt's) 10% of the
  time, so the prior is guided: ``D_s = D(null) + s (D(y) - D(null))``. Sampling draws
  ``candidates`` embeddings per prompt and keeps the one with the highest dot product
  with z_t (the paper's best-of-2 reranking, sec. 2.2). The sampled z is
  de-standardised and normalised to unit length, as the encoder's are.
- The **decoder** is a latent diffusion :class:`~difflab.Denoiser` around a
  :class:`~difflab.nets.UNet` with ``embed_dim``: z_i is projected into the time
  embedding and into ``embed_tokens`` extra context tokens beside the caption's
  (sec. 2.1). During training the caption was dropped 50% and z_i (set to 0) 10% of
  the time, independently; guidance contrasts (z_i, c) with (0, null).

Besides text to image: **variations** of an image (encode it to z_i, decode with fresh
noise and no caption; or invert the decoder with DDIM and decode that noise with
eta > 0, sec. 3.1; each the best of ``variation_candidates`` decodings by CLIP cosine to
z_i), **interpolations** between two images (slerp of their embeddings,
the decoder's noise fixed or, with ``invert``, the slerp of their DDIM-inverted noises, so
that the ends reconstruct the two images, sec. 3.2) and **text diffs** (slerp of z_i toward the
normalised difference of two text embeddings, sec. 3.3).

A folder (:meth:`UnCLIPPipeline.save`)::

    pipeline.json   {"task": "unclip", "image_size", "defaults", "training"}
    clip/           a CLIPEncoder folder (its text encoder is the pipeline's)
    prior/          config.json (+ "standardise": mean, std) + model.safetensors
    autoencoder/    config.json + model.safetensors
    decoder/        config.json + model.safetensors
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from .base import Pipeline

__all__ = ["UnCLIPPipeline", "UnCLIPInfo", "DEFAULTS", "INVERT_GUIDANCE", "slerp", "slerp_noise", "paced_frames",
           "embedding_statistics", "is_unclip_folder", "shipped_unclip_path"]

TASK = "unclip"
#: the pipeline shipped inside the package (``difflab/assets/shapes-unclip``)
SHIPPED = "shapes-unclip"
#: sampling settings used when a call (or a folder's ``defaults``) does not say otherwise; the
#: prior's guidance and the decoder's CLIP guidance were chosen on a tuning range of held-out scenes
#: (docs/unclip.md). ``clip_guidance`` applies where the decoder decodes an embedding alone
#: (variations, interpolations, text diffs, text to image with ``caption=False``), except the
#: inverted interpolation, whose ends must reconstruct their images; text to image
#: with the caption runs without it unless a call asks (on the tuning prompts it traded 4 points of
#: single objects for 7 of pairs). ``variation_guidance`` is the decoder's classifier-free guidance
#: for variations from fresh noise (``guidance`` elsewhere), chosen on the same tuning range
#: (docs/unclip.md, sec. 4). ``variation_candidates``: each variation is the best of that many
#: decoded candidates by cosine to the source's embedding (CLIP reranking; docs/unclip.md, sec. 4);
#: ``interpolation_candidates``: an interpolation's one noise is the best of that many by how near the
#: decodings of its two ends come to their sources (docs/unclip.md, sec. 4); ``interpolation_pacing``:
#: the path is decoded at that many points per frame interval and the frames shown are chosen among
#: them to move monotonically (:func:`paced_frames`; 1: the frames at even steps of t, no choice)
DEFAULTS = {"prior_sampler": "unipc", "prior_steps": 20, "prior_guidance": 1.0, "candidates": 2,
            "sampler": "unipc", "steps": 20, "guidance": 3.0, "clip_guidance": 10.0, "variation_guidance": 1.5,
            "variation_candidates": 4, "interpolation_candidates": 4, "interpolation_pacing": 2}
#: the prior's noise for image i, candidate j of a call seeded s is seeded
#: ``s + i + PRIOR_STREAM + j * CANDIDATE_STRIDE`` (the decoder's noise of image i: ``s + i``),
#: so image i depends on ``s + i`` alone, whatever the batch
PRIOR_STREAM, CANDIDATE_STRIDE = 4_000_037, 1_000_003
#: the decoder's guidance for DDIM inversion and for decoding inverted noise, unless a call says
#: otherwise: 1, the conditional model alone. Euler inversion retraces the sampler only as its
#: steps shrink; guidance s > 1 extrapolates past the conditional model and amplifies the error
#: each step leaves, so guided inversion drifts (Mokady et al. 2023, sec. 3, invert at w = 1;
#: measured in docs/unclip.md, sec. 4)
INVERT_GUIDANCE = 1.0


def is_unclip_folder(folder) -> bool:
    """True when ``folder`` holds an :class:`UnCLIPPipeline` (its ``pipeline.json`` names the task)."""
    from ..io.folders import pipeline_task

    return pipeline_task(folder) == TASK


def shipped_unclip_path() -> Path:
    """The folder of the unCLIP pipeline shipped with difflab (package data; nothing is downloaded)."""
    from ..io.folders import shipped_asset

    return shipped_asset(SHIPPED)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between unit vectors (rows of) ``a`` and ``b`` (Shoemake 1985):
    ``sin((1 - t) theta) / sin(theta) a + sin(t theta) / sin(theta) b``, theta the angle between
    them; the straight line where they are (nearly) parallel. Unit vectors stay unit vectors."""
    a, b = F.normalize(a.double(), dim=-1), F.normalize(b.double(), dim=-1)
    dot = (a * b).sum(-1, keepdim=True).clamp(-1, 1)
    if (dot < -1 + 1e-12).any():
        raise ValueError("slerp between opposite vectors: every great circle joins them, so there is no one path")
    theta = torch.arccos(dot)
    sin = torch.sin(theta)
    near = sin.abs() < 1e-6  # (nearly) parallel: opposite ones were refused above
    wa = torch.where(near, 1 - t, torch.sin((1 - t) * theta) / torch.where(near, 1.0, sin))
    wb = torch.where(near, t, torch.sin(t * theta) / torch.where(near, 1.0, sin))
    return (wa * a + wb * b).float()


def slerp_noise(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Between two noises (tensors of one shape, one sample each or one per row): the slerp of
    their directions, scaled by the linear interpolation of their lengths, so that t = 0 and 1
    give ``a`` and ``b`` and every step keeps a noise-like length (a straight line would shrink
    the middle of two independent noises by sqrt(2))."""
    fa, fb = a.flatten(1), b.flatten(1)
    length = (1 - t) * fa.norm(dim=1, keepdim=True) + t * fb.norm(dim=1, keepdim=True)
    return (slerp(fa, fb, t) * length).view_as(a)


#: the least rise of the margin from one paced frame to the next: far above the encoder's arithmetic
#: noise between batch sizes (about 1e-6), far below the rise of a path (about 0.1 per frame)
PACING_RISE = 1e-4


def paced_frames(margins, frames: int) -> list[int] | None:
    """Which of a path's decodings to show (for :meth:`UnCLIPPipeline.interpolate`).

    ``margins``: ``cos(e_j, z_b) - cos(e_j, z_a)`` of the CLIP embeddings e_j of the path decoded at
    ``D = (frames - 1) r + 1`` evenly spaced points t_j = j / (D - 1), z_a and z_b the sources'.
    Returns the indices ``0 = j_0 < j_1 < ... < j_{frames-1} = D - 1`` whose margins rise by at
    least :data:`PACING_RISE` from each frame to the next and that stay nearest the even steps,
    minimising sum_i (j_i - i r)^2 (dynamic programming over (frame, index), O(frames D^2));
    None where no such choice exists (the end decodings are not the path's extremes, or too few
    points rise between them). With r = 1 the only candidate is the even path itself."""
    m = [float(v) for v in margins]
    d = len(m)
    if frames < 2 or d < frames or (d - 1) % (frames - 1):
        raise ValueError(f"{d} decodings do not pace {frames} frames: need (frames - 1) r + 1 of them")
    r = (d - 1) // (frames - 1)
    inf = float("inf")
    cost = [[inf] * d for _ in range(frames)]
    back = [[-1] * d for _ in range(frames)]
    cost[0][0] = 0.0
    for i in range(1, frames):
        last = i == frames - 1
        for j in range(d - 1 if last else i, d if last else d - 1):
            here = (j - i * r) ** 2
            for k in range(i - 1, j):
                if cost[i - 1][k] + here < cost[i][j] and m[j] - m[k] >= PACING_RISE:
                    cost[i][j], back[i][j] = cost[i - 1][k] + here, k
    if cost[-1][-1] == inf:
        return None
    keep, j = [d - 1], d - 1
    for i in range(frames - 1, 0, -1):
        j = back[i][j]
        keep.append(j)
    return keep[::-1]


def _one_stream(seed: int, frames: int) -> list[torch.Generator]:
    """The step noise of a stochastic sampler for every frame of a path: ``frames`` generators
    of the one stream of ``seed`` (what frame 0 alone would draw), so that the frames differ by
    their embeddings and not by their noise."""
    from ..tensors import stream_generators

    return [stream_generators(seed, 1, "steps")[0] for _ in range(frames)]


@dataclass
class UnCLIPInfo:
    """What one call did: the prompts, seeds, NFE of prior and decoder, seconds and settings."""

    prompts: list
    seeds: list
    nfe: int
    seconds: float
    settings: dict


def embedding_statistics(prior_config: dict, decoder_config: dict, where) -> dict:
    """The ``standardise`` statistics the prior and the decoder were trained with (one-line
    errors where either lacks them or they differ: parts trained on other embeddings)."""
    stats = [c.get("standardise") for c in (prior_config, decoder_config)]
    for part, st in zip(("prior", "decoder"), stats):
        if not isinstance(st, dict) or not {"mean", "std"} <= set(st):
            raise ValueError(f"{where}: the {part}'s config.json lacks the embedding statistics 'standardise'")
    a, b = (torch.as_tensor([st["mean"], st["std"]], dtype=torch.float64) for st in stats)
    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-4, atol=1e-6):
        raise ValueError(f"{where}: the prior and the decoder were trained on different CLIP embeddings "
                         "(their 'standardise' statistics differ): train both with the same CLIP encoder")
    return stats[0]


def _check_frames(frames) -> None:
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames must be an integer of at least 2, got {frames!r}")


def _check_call(output: str, seed) -> None:
    """The settings every generating call checks before any work: the output kind and the seed."""
    if output not in ("uint8", "tensor"):
        raise ValueError(f"output must be 'uint8' or 'tensor', got {output!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")


def _check_counts(**counts) -> None:
    """A one-line error unless every count given (not None) is a positive integer."""
    for name, value in counts.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _whole(value, name: str) -> int:
    """``value`` as a positive int; a one-line error for 2.7, "3", True, 0."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value != int(value) or value < 1):
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


class UnCLIPPipeline(Pipeline):
    """CLIP encoder + diffusion prior + embedding-conditioned decoder (module docstring).

    Args:
        clip: a :class:`~difflab.pipelines.clip.CLIPEncoder`; its text encoder conditions the
            prior and the decoder too.
        prior: a :class:`~difflab.Denoiser` on standardised embeddings (N, D).
        stats: ``{"mean": (D,), "std": (D,)}``, the per-dimension standardisation of the CLIP image
            embeddings of the training images: the prior works on standardised embeddings and
            the decoder reads them standardised.
        autoencoder: the latent space's :class:`~difflab.nets.autoencoder.AutoencoderKL`.
        decoder: a :class:`~difflab.Denoiser` whose UNet takes ``context`` and ``embed``.
        config: ``image_size``, ``defaults``, notes (written to ``pipeline.json``).
    """

    def __init__(self, clip, prior, stats: dict, autoencoder, decoder, config: dict | None = None) -> None:
        d = clip.dim
        mean, std = (torch.as_tensor(stats[k], dtype=torch.float32) for k in ("mean", "std"))
        if mean.shape != (d,) or std.shape != (d,) or not (std > 0).all():
            raise ValueError(f"stats must give mean and a positive std of shape ({d},)")
        prior_cfg, dec_cfg = prior.net.config, getattr(decoder.net, "config", {})
        if prior_cfg.get("embed_dim") != d or dec_cfg.get("embed_dim") != d:
            raise ValueError(f"the prior ({prior_cfg.get('embed_dim')}-d) and the decoder ({dec_cfg.get('embed_dim')}-d) "
                             f"must work on the CLIP encoder's {d}-d embeddings")
        width = clip.text_encoder.dim
        if prior_cfg.get("text_dim") != width or dec_cfg.get("context_dim") != width:
            raise ValueError(f"the prior and the decoder must read the text encoder's {width}-d tokens")
        config = dict(config or {})
        size = int(config.get("image_size", clip.net.image_size))
        self.clip, self.prior, self.autoencoder, self.denoiser = clip, prior, autoencoder, decoder
        self.stats = {"mean": mean, "std": std}
        self.config = {**config, "image_size": size, "defaults": {**DEFAULTS, **config.get("defaults", {})}}
        self.latent_shape = autoencoder.latent_shape((autoencoder.in_channels, size, size))
        self._null: dict | None = None

    @property
    def decoder(self):
        return self.denoiser

    @property
    def text_encoder(self):
        return self.clip.text_encoder

    def to(self, device) -> "UnCLIPPipeline":
        for part in (self.clip.net, self.prior.net, self.autoencoder, self.denoiser.net):
            part.to(device)
        self._null = None
        return self

    # -- conditioning ----------------------------------------------------------------
    def text_cond(self, prompts: Sequence[str]) -> dict:
        """``{"context", "context_mask", "text_embed"}``: the prompts' token states and CLIP
        text embeddings (one run of the text encoder), on the pipeline's device."""
        w, tokens, mask = self.clip.encode_text(prompts, return_tokens=True)
        device = self.device
        return {"context": tokens.to(device), "context_mask": mask.to(device), "text_embed": w.to(device)}

    def null(self) -> dict:
        """The empty prompt's conditioning (one sample, no batch dim), encoded once."""
        if self._null is None or self._null["context"].device != self.device:
            self._null = {k: v[0] for k, v in self.text_cond([""]).items()}
        return self._null

    def standardise(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.stats["mean"].to(z.device)) / self.stats["std"].to(z.device)

    def destandardise(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.stats["std"].to(z.device) + self.stats["mean"].to(z.device)

    # -- the prior -------------------------------------------------------------------
    @torch.no_grad()
    def prior_embeddings(self, prompts: Sequence[str], *, seed: int = 0, sampler: str | None = None,
                         steps: int | None = None, guidance: float | None = None, candidates: int | None = None,
                         return_info: bool = False, text: dict | None = None):
        """CLIP image embeddings (N, D), unit length, drawn from the prior for ``prompts``: the
        best of ``candidates`` draws by dot product with the prompt's text embedding. ``text``:
        the prompts' :meth:`text_cond`, where the caller has it already."""
        from ..guidance import ClassifierFreeGuidance
        from ..samplers import sample
        from ..tensors import generators

        d = self.config["defaults"]
        sampler = d["prior_sampler"] if sampler is None else sampler
        steps = d["prior_steps"] if steps is None else _whole(steps, "prior steps")
        guidance = d["prior_guidance"] if guidance is None else float(guidance)
        k = d["candidates"] if candidates is None else candidates
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"candidates must be a positive integer, got {k!r}")
        cond = self.text_cond(prompts) if text is None else text
        n = cond["context"].shape[0]
        rep = {key: v.repeat_interleave(k, 0) for key, v in cond.items()}
        model = ClassifierFreeGuidance(self.prior, guidance, self.null())
        streams = [g for i in range(n) for j in range(k)
                   for g in generators(seed + i + PRIOR_STREAM + j * CANDIDATE_STRIDE, 1)]
        z, info = sample(model, (n * k, self.clip.dim), sampler, steps, return_info=True, cond=rep, generator=streams)
        z = F.normalize(self.destandardise(z.float()), dim=-1).view(n, k, -1)
        score = (z * cond["text_embed"][:, None]).sum(-1)
        best = z[torch.arange(n), score.argmax(1)]
        return (best, info.nfe) if return_info else best

    # -- the decoder -----------------------------------------------------------------
    def decoder_null(self) -> dict:
        """The decoder's unconditional branch: no caption and a zero embedding."""
        null = self.null()
        return {"context": null["context"], "context_mask": null["context_mask"],
                "embed": torch.zeros(self.clip.dim, device=self.device)}

    def decoder_cond(self, embeddings: torch.Tensor, prompts: Sequence[str] | None = None,
                     text: dict | None = None) -> dict:
        """The decoder's conditioning for unit image embeddings (N, D) and captions (None: none;
        ``text``: their :meth:`text_cond`, where the caller has it already). The decoder reads
        the embedding standardised (entries of order 1, where a unit vector's are of order
        1 / sqrt(D)); its null, 0, is then the mean embedding."""
        n = embeddings.shape[0]
        if prompts is None:
            null = self.null()
            context = null["context"].expand(n, *null["context"].shape)
            mask = null["context_mask"].expand(n, *null["context_mask"].shape)
        else:
            if len(prompts) != n:
                raise ValueError(f"got {len(prompts)} prompts for {n} embeddings")
            c = self.text_cond(prompts) if text is None else text
            context, mask = c["context"], c["context_mask"]
        return {"context": context, "context_mask": mask,
                "embed": self.standardise(embeddings.to(self.device, torch.float32))}

    @torch.no_grad()
    def decode_latents(self, embeddings: torch.Tensor, prompts: Sequence[str] | None = None, *, seed: int = 0,
                       noise: torch.Tensor | None = None, sampler: str | None = None, steps: int | None = None,
                       guidance: float | None = None, sigmas=None, text: dict | None = None,
                       clip_guidance: float | None = None, **options):
        """Latents for image embeddings (N, D), from the noise of seeds ``seed + i`` (or
        ``noise``; ``seed`` may also be one generator per embedding, for a stochastic sampler's
        step noise); ``prompts`` and ``text`` as :meth:`decoder_cond` takes them; returns
        (latents, NFE). ``clip_guidance``: the scale of the CLIP encoder's own guidance towards
        the embeddings (:class:`~difflab.guidance.EmbeddingGuidance`; 0: none; default the
        pipeline's)."""
        from ..guidance import ClassifierFreeGuidance, EmbeddingGuidance
        from ..samplers import sample

        d = self.config["defaults"]
        sampler = d["sampler"] if sampler is None else sampler
        steps = d["steps"] if steps is None else _whole(steps, "steps")
        guidance = d["guidance"] if guidance is None else float(guidance)
        clip_guidance = d["clip_guidance"] if clip_guidance is None else float(clip_guidance)
        cond = self.decoder_cond(embeddings, prompts, text)
        n = embeddings.shape[0]
        model = ClassifierFreeGuidance(self.denoiser, guidance, self.decoder_null())
        if clip_guidance:
            model = EmbeddingGuidance(model, self.embed_latents, embeddings, clip_guidance)
        start = (n, *self.latent_shape) if noise is None else noise
        z, info = sample(model, start, sampler, steps, generator=seed, cond=cond, return_info=True, sigmas=sigmas,
                         **options)
        return z, info.nfe

    def embed_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """The CLIP image embeddings (N, D) of the images of ``latents``, differentiable (what
        :class:`~difflab.guidance.EmbeddingGuidance` steers by)."""
        return self.clip.net.encode_image(self.autoencoder.decode_latents(latents).clamp(-1, 1))

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) in [-1, 1] from latents."""
        return self.autoencoder.decode_latents(latents).clamp(-1, 1)

    @staticmethod
    def _output(x: torch.Tensor, output: str):
        if output == "tensor":
            return x
        if output != "uint8":
            raise ValueError(f"output must be 'uint8' or 'tensor', got {output!r}")
        from ..data.shapes import to_uint8

        return to_uint8(x)

    # -- text to image ---------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, prompts: str | Sequence[str], n_per_prompt: int = 1, *, seed: int = 0, output: str = "uint8",
                 return_info: bool = False, caption: bool = True, **settings):
        """Generate ``n_per_prompt`` images per prompt: prior, then decoder (module docstring).

        Image j of the (prompt-major) batch uses seed ``seed + j``. ``caption``: also give the
        decoder the prompt (the paper's decoder sees both); False decodes the embedding
        alone. ``settings``: ``prior_sampler``, ``prior_steps``, ``prior_guidance``,
        ``candidates``, ``sampler``, ``steps``, ``guidance``, ``clip_guidance`` (default: 0 with
        the caption, the pipeline's without; :data:`DEFAULTS`) and decoder sampler options."""
        _check_call(output, seed)
        if caption:
            settings.setdefault("clip_guidance", 0.0)
        from ..text import check_prompts

        if isinstance(prompts, str):
            prompts = [prompts]
        if isinstance(n_per_prompt, bool) or not isinstance(n_per_prompt, int) or n_per_prompt < 1:
            raise ValueError(f"n_per_prompt must be a positive integer, got {n_per_prompt!r}")
        batch = [p for p in check_prompts(prompts) for _ in range(n_per_prompt)]
        start = time.perf_counter()
        prior_keys = ("prior_sampler", "prior_steps", "prior_guidance", "candidates")
        prior = {k.replace("prior_", ""): settings.pop(k) for k in prior_keys if k in settings}
        text = self.text_cond(batch)  # the text encoder runs once, for the prior and the decoder
        z_i, nfe_prior = self.prior_embeddings(batch, seed=seed, return_info=True, text=text, **prior)
        latents, nfe = self.decode_latents(z_i, batch if caption else None, seed=seed, text=text, **settings)
        x = self._output(self.decode(latents), output)
        info = UnCLIPInfo(batch, [seed + j for j in range(len(batch))], nfe_prior + nfe, time.perf_counter() - start,
                          {**{k: self.config["defaults"][k] for k in DEFAULTS}, **settings,
                           **{f"prior_{k}" if k != "candidates" else k: v for k, v in prior.items()},
                           "caption": caption})
        return (x, info) if return_info else x

    # -- image variations, interpolation, text diffs ----------------------------------
    def load_images(self, images) -> torch.Tensor:
        """Images as (N, 3, S, S) in [-1, 1] (see :meth:`CLIPEncoder.images_tensor`)."""
        return self.clip.images_tensor(images if isinstance(images, (list, tuple, torch.Tensor)) else [images])

    @torch.no_grad()
    def invert(self, image, *, steps: int | None = None, guidance: float | None = None,
               embedding: torch.Tensor | None = None):
        """(noise, grid): DDIM inversion (:func:`difflab.tasks.invert.ddim_invert`) of ``image``'s
        latents through the decoder conditioned on its own embedding and no caption, guided
        with ``guidance`` (default :data:`INVERT_GUIDANCE`), on the ``ddim`` grid of ``steps``
        steps. Decoding that noise with ``ddim`` on the grid and the same guidance (eta = 0)
        reconstructs the image; eta > 0 gives variations around it."""
        from ..grids import make_grid
        from ..guidance import ClassifierFreeGuidance
        from ..tasks.invert import ddim_invert

        x = self.load_images(image)
        z_i = self.clip.encode_image(x) if embedding is None else embedding
        steps = self.config["defaults"]["steps"] if steps is None else _whole(steps, "steps")
        sigmas = make_grid(self.denoiser.schedule, steps)
        latents = self.autoencoder.encode_latents(x.to(self.device), mode=True)
        guidance = INVERT_GUIDANCE if guidance is None else float(guidance)
        model = ClassifierFreeGuidance(self.denoiser, guidance, self.decoder_null())
        return ddim_invert(model, latents, sigmas, cond=self.decoder_cond(z_i)), sigmas

    @torch.no_grad()
    def variations(self, image, n: int = 4, *, seed: int = 0, invert: bool = False, candidates: int | None = None,
                   output: str = "uint8", **settings):
        """``n`` variations of one image: its CLIP embedding decoded with fresh noise and no
        caption, at the guidance ``variation_guidance`` (:data:`DEFAULTS`) unless ``guidance`` is
        given; with ``invert``, decoded by ``ddim`` with ``eta`` (a setting, default 0.8) from the
        image's own inverted noise (:meth:`invert`, at the decoding's guidance), so layout and
        colours stay closer. There the guidance is the pipeline's ``guidance``: at eta 0.8 the
        decoder's faithfulness to the embedding matters more than an exact inversion
        (docs/unclip.md, sec. 4); ``guidance=1``, ``clip_guidance=0`` with ``eta=0`` give the
        image back.

        Each variation is the best of ``candidates`` (default ``variation_candidates``) decoded
        images by the cosine of their CLIP embedding to the source's: the CLIP reranking of
        DALL-E (Ramesh et al. 2021, sec. 2.6), applied here to the image embedding, the paper's
        best-of-2 of the prior (Ramesh et al. 2022, sec. 2.2) moved to the decoder's output.
        Candidate c of variation j is decoded from seed ``seed + j + c * CANDIDATE_STRIDE``, so
        variation j depends on ``seed + j`` alone, and ``candidates=1`` is the plain decoding
        (seeds ``seed + j``). It costs ``candidates`` decodings per variation (one from inverted
        noise at ``eta=0``, where every candidate would be the same image)."""
        _check_call(output, seed)
        _check_counts(n=n, candidates=candidates)
        k = self.config["defaults"]["variation_candidates"] if candidates is None else candidates
        x = self.load_images(image)
        if x.shape[0] != 1:
            raise ValueError(f"variations take one image, got {x.shape[0]}")
        z_i = self.clip.encode_image(x)
        embeddings = z_i.expand(n, -1)
        if not invert:
            if settings.get("guidance") is None:  # None, as decode_latents reads it: the default, here the variations'
                settings["guidance"] = self.config["defaults"]["variation_guidance"]
            decode = lambda s: self.decode_latents(embeddings, None, seed=s, **settings)[0]  # noqa: E731
        else:
            settings.setdefault("eta", 0.8)
            noise, sigmas, settings = self._inverted(x, z_i, settings, self.config["defaults"]["guidance"])
            noise = noise.expand(n, *noise.shape[1:])
            if not settings["eta"]:  # ddim without step noise from one noise: every candidate the same image
                k = 1
            decode = lambda s: self.decode_latents(embeddings, None, seed=s, noise=noise,  # noqa: E731
                                                   sigmas=sigmas, **settings)[0]
        best = self.decode(decode(seed))
        if k > 1:
            best_cos = self.clip.encode_image(best) @ z_i[0]
            for c in range(1, k):
                images = self.decode(decode(seed + c * CANDIDATE_STRIDE))
                cos = self.clip.encode_image(images) @ z_i[0]
                better = cos > best_cos  # a tie keeps the earlier candidate
                best = torch.where(better[:, None, None, None], images, best)
                best_cos = torch.where(better, cos, best_cos)
        return self._output(best, output)

    def _inverted(self, x: torch.Tensor, z_i: torch.Tensor, settings: dict, guidance: float):
        """(noise, grid, decoding settings) of images ``x`` with embeddings ``z_i`` inverted at the
        settings' steps and guidance (default ``guidance``) (:meth:`invert`): the decoding runs
        ``ddim`` at that guidance."""
        settings = dict(settings)
        if settings.pop("sampler", "ddim") != "ddim":
            raise ValueError("sampling from inverted noise uses ddim (the inverted sampler); do not give another")
        if settings.pop("spacing", None) is not None:
            raise ValueError("sampling from inverted noise runs on the inversion's own grid; do not give a spacing")
        settings["guidance"] = float(settings.get("guidance", guidance))
        noise, sigmas = self.invert(x, steps=settings.pop("steps", None), guidance=settings["guidance"], embedding=z_i)
        return noise, sigmas, {**settings, "sampler": "ddim"}

    @torch.no_grad()
    def interpolate(self, image_a, image_b, frames: int = 8, *, seed: int = 0, invert: bool = False,
                    candidates: int | None = None, pacing: int | None = None, output: str = "uint8", **settings):
        """``frames`` images along slerp(z_a, z_b, t), t = 0 .. 1, with no caption (Ramesh et al.
        2022, sec. 3.2); also returns the embeddings. The decoder's noise is either the same for
        every frame, or with ``invert`` the paper's first option: the two
        images' DDIM-inverted noises x_a, x_b (:meth:`invert`, guidance default
        :data:`INVERT_GUIDANCE`) along :func:`slerp_noise` (x_a, x_b, t), decoded by ``ddim``
        (eta = 0) at the inversion's guidance, so that the ends reconstruct the two images; there
        ``clip_guidance`` defaults to 0, since a guided step is no longer the inverse of the
        inversion's step (the ends' cosine to their sources fell from 0.993 to 0.947 with it).

        The one noise is the best of ``candidates`` (default ``interpolation_candidates``), seeded
        ``seed + c * CANDIDATE_STRIDE``, by the mean cosine of its two end frames' CLIP embeddings
        to their sources' (CLIP reranking as for :meth:`variations`, applied to the whole path's
        noise, since the frames must share it): a noise whose ends reproduce the sources gives a
        path that starts and ends at them. It costs 2 decodings per candidate more; ``candidates=1``
        is the noise of seed ``seed``. The inverted path has one noise and no choice.

        The frames shown are paced (default ``interpolation_pacing``, r = 2): the path is decoded at
        ``(frames - 1) r + 1`` even steps of t, and of those the frames whose CLIP embeddings move
        from A's towards B's (the margin cos(e, z_b) - cos(e, z_a) rising at every frame) nearest
        the even steps are kept (:func:`paced_frames`): a frame that the decoder drew further back
        than the one before it is replaced by a neighbouring point of the path; where no such choice
        exists the even frames are shown. The returned embeddings are those of the frames shown.
        It costs ``(frames - 1) (r - 1)`` decodings more; ``pacing=1`` decodes the even frames alone."""
        _check_call(output, seed)
        _check_frames(frames)
        _check_counts(candidates=candidates, pacing=pacing)
        r = self.config["defaults"]["interpolation_pacing"] if pacing is None else pacing
        from ..limits import check_limit

        check_limit("images", (frames - 1) * r + 1, f"{frames} frames paced {r}x (the path's decodings)")
        x = torch.cat([self.load_images(image_a), self.load_images(image_b)])
        if x.shape[0] != 2:
            raise ValueError(f"interpolate takes one image at each end, got {x.shape[0]} images")
        z = self.clip.encode_image(x)
        points = (frames - 1) * r + 1
        ts = [k / (points - 1) for k in range(points)]
        path = torch.cat([slerp(z[:1], z[1:], t) for t in ts])
        if not invert:
            k = self.config["defaults"]["interpolation_candidates"] if candidates is None else candidates
            images = self.decode(self._path_latents(path, self._best_ends_seed(path, z, seed, k, settings), settings))
        else:
            settings.setdefault("clip_guidance", 0.0)
            noise, sigmas, settings = self._inverted(x, z, settings, INVERT_GUIDANCE)
            noise = torch.cat([slerp_noise(noise[:1], noise[1:], t) for t in ts])
            latents, _ = self.decode_latents(path, None, noise=noise, seed=_one_stream(seed, points), sigmas=sigmas,
                                             **settings)
            images = self.decode(latents)
        keep = list(range(0, points, r))
        if r > 1:
            from ..data.shapes import to_uint8

            e = self.clip.encode_image(list(to_uint8(images)))  # the frames as the caller gets them
            keep = paced_frames(e @ z[1] - e @ z[0], frames) or keep
        return self._output(images[keep], output), path[keep]

    @torch.no_grad()
    def text_diff(self, image, toward: str, source: str = "", frames: int = 5, *, max_angle: float = 0.5,
                  seed: int = 0, output: str = "uint8", **settings):
        """Move an image toward a caption (Ramesh et al. 2022, sec. 3.3): with the text
        difference z_d = normalise(z_t(toward) - z_t(source)), decode slerp(z_i, z_d, t) for
        t from 0 to ``max_angle`` in ``frames`` steps, all from the same noise and no caption.
        ``source``: a caption of the image ("" if none is known)."""
        _check_call(output, seed)
        from ..text import check_prompts

        check_prompts([toward, source])
        if not toward.strip():
            raise ValueError("toward is empty: give the caption to move the image toward")
        _check_frames(frames)
        if isinstance(max_angle, bool) or not isinstance(max_angle, (int, float)) or not 0 < max_angle <= 1:
            raise ValueError(f"max_angle must be in (0, 1], got {max_angle}")
        z_i = self.clip.encode_image(self.load_images(image))
        if z_i.shape[0] != 1:
            raise ValueError(f"text_diff takes one image, got {z_i.shape[0]}")
        t = self.clip.encode_text([toward, source])
        z_d = F.normalize(t[:1] - t[1:], dim=-1)
        path = torch.cat([slerp(z_i, z_d, max_angle * k / (frames - 1)) for k in range(frames)])
        return self._decode_path(path, seed, output, settings), path

    def _decode_path(self, path: torch.Tensor, seed: int, output: str, settings: dict):
        """Images of a path of embeddings, every one from the same noise (seed ``seed``, the step
        noise of a stochastic sampler too) and no caption."""
        return self._output(self.decode(self._path_latents(path, seed, settings)), output)

    def _path_latents(self, path: torch.Tensor, seed: int, settings: dict) -> torch.Tensor:
        """The decoder's latents of :meth:`_decode_path`, before the autoencoder."""
        from ..tensors import randn

        frames = path.shape[0]
        noise = randn((1, *self.latent_shape), seed).expand(frames, *self.latent_shape)
        latents, _ = self.decode_latents(path, None, noise=noise, seed=_one_stream(seed, frames), **settings)
        return latents

    def _best_ends_seed(self, path: torch.Tensor, ends: torch.Tensor, seed: int, k: int, settings: dict) -> int:
        """Of the noises of seeds ``seed + c * CANDIDATE_STRIDE``, c < ``k``, the one whose decodings
        of the path's two ends have CLIP embeddings nearest ``ends`` (the sources'), by their mean
        cosine; the earlier on a tie. ``k = 1``: ``seed``, with nothing decoded."""
        best, best_score = seed, -math.inf
        for c in range(k if k > 1 else 0):
            s = seed + c * CANDIDATE_STRIDE
            images = self.decode(self._path_latents(path[[0, -1]], s, settings))
            score = float((self.clip.encode_image(images) * ends).sum(-1).mean())
            if score > best_score:
                best, best_score = s, score
        return best

    # -- folders ------------------------------------------------------------------
    def save(self, folder, *, dtype: torch.dtype | None = None) -> Path:
        """Write the folder (module docstring); ``dtype`` (e.g. ``torch.float16``) stores the
        weights in that precision (loading casts them back to float32)."""
        from ..io.folders import save_autoencoder, save_model, write_pipeline_config

        folder = Path(folder)
        self.clip.save(folder / "clip", dtype=dtype)
        stats = {k: [float(v) for v in self.stats[k]] for k in ("mean", "std")}
        save_model(folder / "prior", self.prior, {"task": "unclip-prior", "standardise": stats}, dtype=dtype)
        size = self.config["image_size"]
        save_autoencoder(folder / "autoencoder", self.autoencoder,
                         {"data": {**self.config.get("data", {}), "shape": [self.autoencoder.in_channels, size, size]}},
                         dtype=dtype)
        save_model(folder / "decoder", self.denoiser, {"task": "unclip-decoder", "standardise": stats}, dtype=dtype)
        write_pipeline_config(folder, {"task": TASK, **self.config})
        return folder

    @classmethod
    def load(cls, folder, device: str | torch.device = "cpu", ema: bool = True) -> "UnCLIPPipeline":
        """Load a folder written by :meth:`save` (one-line errors for any other folder)."""
        from ..io.folders import load_autoencoder, load_model, read_pipeline_config
        from .clip import CLIPEncoder

        folder = Path(folder)
        config = read_pipeline_config(folder, TASK)
        clip = CLIPEncoder.load(folder / "clip", device)
        prior, prior_config = load_model(folder / "prior", ema=ema, device=device)
        autoencoder, _ = load_autoencoder(folder / "autoencoder", device)
        decoder, decoder_config = load_model(folder / "decoder", ema=ema, device=device)
        stats = embedding_statistics(prior_config, decoder_config, folder)
        return cls(clip, prior, stats, autoencoder, decoder, config)

    @classmethod
    def shipped(cls, device: str | torch.device = "cpu") -> "UnCLIPPipeline":
        """The pipeline shipped inside the package (:func:`shipped_unclip_path`)."""
        return cls.load(shipped_unclip_path(), device=device)

    def __repr__(self) -> str:
        return (f"UnCLIPPipeline(image_size={self.config['image_size']}, clip={self.clip!r}, "
                f"prior={self.prior!r}, decoder={self.denoiser!r})")

"""Latent text-to-image diffusion (Rombach et al. 2022, "Stable Diffusion"), by composition.

    prompt --text encoder--> tokens c (L, D)         (difflab.text)
    noise z_T (4, h, w) --sampler on D(z; sigma, c)--> z_0   (difflab.samplers, difflab.guidance)
    z_0 --autoencoder decoder--> image x (3, H, W)    (difflab.nets.autoencoder)

Three parts, each usable alone, none knowing of the others:

- the **autoencoder** (:class:`~difflab.nets.autoencoder.AutoencoderKL`): images to
  latents ``z = scale_factor * E(x)`` and back, ``x = D(z / scale_factor)``;
- the **text encoder** (:class:`~difflab.text.TextEncoder`): prompts to token states
  ``tau(y)`` (B, L, D) and a mask; frozen and pretrained (MiniLM), so words outside
  the training captions still map somewhere sensible;
- the **denoiser** (:class:`~difflab.Denoiser` around a :class:`~difflab.nets.UNet`
  with ``context_dim = D``): trained on latents with the objective of Rombach et al.
  2022, eq. 2,

      L_LDM = E_{E(x), y, eps ~ N(0, I), t} || eps - eps_theta(z_t, t, tau(y)) ||^2,

  here in the equivalent v parameterisation (Salimans & Ho 2022), the text entering
  every attention layer by cross-attention (Rombach et al. 2022, eq. 3):
  ``softmax(Q K^T / sqrt(d)) V`` with ``Q = W_Q phi(z_t)`` from the U-Net features and
  ``K = W_K tau(y)``, ``V = W_V tau(y)`` from the text tokens.

Classifier-free guidance (Ho & Salimans 2022, eq. 6) steers sampling to the prompt:

    D_s(z; sigma, c) = D(z; sigma, null) + s (D(z; sigma, c) - D(z; sigma, null)),

with ``null`` the encoding of the empty prompt ``""`` (Stable Diffusion's convention):
training replaced each caption by ``""`` with probability ``p_uncond`` (caption
dropout), so the one network is both the conditional and the unconditional model.
An empty prompt therefore *is* unconditional generation (both halves are equal).
s = 0 is the unconditional model, s = 1 the conditional one.

A pipeline is saved as one folder (:meth:`TextToImagePipeline.save`)::

    pipeline.json      {"task": "text-to-image", "text_encoder": {...config...}, "defaults": {...}, ...}
    autoencoder/       config.json + model.safetensors  (difflab.io.folders.save_autoencoder)
    denoiser/          config.json + model.safetensors  (difflab.io.folders.save_model)

The text encoder is rebuilt from its config (its weights belong to its own package).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..denoiser import DenoiserWrapper, SharedEvaluations
from ..io.folders import PIPELINE_CONFIG
from ..nets.lora import has_lora, lora_disabled
from .base import Pipeline

__all__ = ["TextToImagePipeline", "GenerationInfo", "DEFAULTS", "PIPELINE_CONFIG", "prompt_slug", "is_text_to_image_folder",
           "shipped_model_path", "LEARNED_STYLE_SIGMA", "WithoutStyle", "CALIBRATION_SEED", "VALIDATION_SEED",
           "calibration_prompts"]

#: the prompt stream grids are optimized on (:meth:`TextToImagePipeline.calibration`); the evaluation's
#: prompts come from another (``difflab.data.shapes.EVAL_SEED``)
CALIBRATION_SEED = 7_000_017
#: a second tuning stream: the prompts a grid found on the calibration prompts must also do better on
#: before ``tune-grid --against faithfulness`` stores it (:func:`difflab.samplers.optimize_grid`'s validation)
VALIDATION_SEED = 7_000_019


def calibration_prompts(n: int, prompt_seed: int = CALIBRATION_SEED) -> list:
    """The ``n`` (prompt, :class:`~difflab.data.shapes.Attributes`) pairs grids are optimized on
    (:meth:`TextToImagePipeline.calibration`): the first ``ceil(n / 2)`` single-object prompts of
    stream ``prompt_seed`` (:func:`~difflab.data.shapes.eval_prompts`), then two-object ones."""
    from ..data.shapes import eval_prompts

    return [item for kind in ("single", "pair") for item in eval_prompts((n + 1) // 2, kind, prompt_seed)][:n]


#: the pipeline shipped inside the package (``difflab/assets/shapes-t2i``)
SHIPPED = "shapes-t2i"
#: the styled pipeline shipped beside it (``difflab/assets/shapes-t2i-styles``: five rendering styles
#: named in captions, dotted held out for learned styles; its style adapter for ``style_ref``; docs/styles.md)
SHIPPED_STYLES = "shapes-t2i-styles"
#: sampling settings used when a call (or a folder's ``defaults``) does not say otherwise
DEFAULTS = {"sampler": "dpmpp-2m", "steps": 20, "guidance": 4.0, "spacing": None}


@dataclass
class GenerationInfo:
    """What one pipeline call did: the prompts of each image, the seeds, NFE and seconds."""

    prompts: list
    seeds: list
    nfe: int
    seconds: float
    settings: dict


def shipped_model_path(styles: bool = False) -> Path:
    """The folder of the pipeline shipped with difflab (package data; nothing is downloaded);
    ``styles``: the styled one (:data:`SHIPPED_STYLES`)."""
    from ..io.folders import shipped_asset

    return shipped_asset(SHIPPED_STYLES if styles else SHIPPED)


def is_text_to_image_folder(folder) -> bool:
    """True when ``folder`` holds a text-to-image pipeline: difflab's (``pipeline.json``) or a
    diffusers text-to-image folder (Stable Diffusion layout)."""
    from ..io.diffusers import diffusers_task, is_diffusers_folder

    folder = Path(folder)
    if (folder / PIPELINE_CONFIG).is_file():
        return True
    return is_diffusers_folder(folder) and diffusers_task(folder) == "text-to-image"


def prompt_slug(prompt: str, max_chars: int = 48) -> str:
    """A file-name-safe short form of ``prompt`` ("a red circle, left" -> "a-red-circle-left");
    ``"uncond"`` for the empty prompt, ``"prompt"`` for one without a letter or digit of a-z, 0-9.
    Different prompts may share a slug: a caller that names files by it must make them unique."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:max_chars].strip("-")
    return slug or ("uncond" if prompt == "" else "prompt")


def aspect_size(aspect: str, size: int, multiple: int) -> tuple[int, int]:
    """(height, width) in pixels of a frame of aspect ratio ``aspect`` ("W:H", e.g. "3:2"),
    in the manner of MidJourney's ``--ar``: the shorter side is ``size`` (what the model was
    trained on), the longer one ``size`` times the ratio, rounded to a multiple of
    ``multiple`` (what the autoencoder and the U-Net's levels divide). Ratios from 1:4 to
    4:1."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", str(aspect))
    w, h = (float(match.group(1)), float(match.group(2))) if match else (0.0, 0.0)
    if not (w > 0 and h > 0 and 0.25 <= w / h <= 4):
        raise ValueError(f"aspect must be W:H with a ratio from 1:4 to 4:1, e.g. 3:2; got {aspect!r}")
    long = max(multiple, round(size * max(w / h, h / w) / multiple) * multiple)
    return (size, long) if w >= h else (long, size)


#: noise level below which a learned style acts by default (``pipe(..., style_sigma=)``): above it the
#: base model alone lays out the content. Chosen on the tuning prompts (docs/styles.md, section 6).
LEARNED_STYLE_SIGMA = 0.3
#: noise level below which a style reference acts through a style adapter by default
#: (``pipe(..., style_ref=, style_sigma=)``, :class:`~difflab.pipelines.style_adapter.LateReference`): above
#: it the prompt alone lays out the content. Chosen on the tuning prompts (docs/styles.md, section 7).
REFERENCE_STYLE_SIGMA = 2.5


def _check_keep_colours(sampling: dict) -> None:
    if sampling.get("style") is None and sampling.get("style_ref") is None:
        raise ValueError("keep_colours keeps the prompt's colours under a style: name one with style= (--style) "
                         "or give a style_ref (--style-ref)")


class WithoutStyle(DenoiserWrapper):
    """``denoiser`` with its learned style's adapters off (:func:`~difflab.nets.lora.lora_disabled`):
    the base model, for the steps a style does not act in."""

    def __call__(self, x, sigma, **cond):
        with lora_disabled(self.denoiser.net):
            return self.denoiser(x, sigma, **cond)


class TextToImagePipeline(Pipeline):
    """Autoencoder + denoiser + text encoder (see the module docstring).

    Args:
        autoencoder: an :class:`~difflab.nets.autoencoder.AutoencoderKL` with its ``scale_factor``.
        denoiser: a :class:`~difflab.Denoiser` whose network takes ``context`` and
            ``context_mask`` (a :class:`~difflab.nets.UNet` with ``context_dim``) and
            works on latents of shape ``latent_shape``.
        text_encoder: a :class:`~difflab.text.TextEncoder` whose ``dim`` is the network's ``context_dim``.
        config: ``image_size`` (side in pixels; default from the autoencoder's data),
            ``defaults`` (sampler, steps, guidance, spacing), anything else JSON-able
            (training notes), written to ``pipeline.json``.
    """

    #: the name of the learned style whose adapters the denoiser carries (set by
    #: :func:`~difflab.pipelines.learned_styles.apply_style`)
    learned_style: str | None = None

    def __init__(self, autoencoder, denoiser, text_encoder, config: dict | None = None) -> None:
        config = dict(config or {})
        net_config = getattr(denoiser.net, "config", {}) or {}
        if net_config.get("context_dim") not in (None, text_encoder.dim):
            raise ValueError(f"the denoiser's network attends to {net_config['context_dim']}-d tokens but the text "
                             f"encoder gives {text_encoder.dim}-d ones")
        if "image_size" not in config:
            raise ValueError("config must give image_size (the side of the generated images in pixels)")
        size = int(config["image_size"])
        if size % autoencoder.factor:
            raise ValueError(f"image_size {size} is not divisible by the autoencoder's factor {autoencoder.factor}")
        self.autoencoder, self.denoiser, self.text_encoder = autoencoder, denoiser, text_encoder
        self.config = {**config, "image_size": size, "defaults": {**DEFAULTS, **config.get("defaults", {})}}
        self.latent_shape = autoencoder.latent_shape((autoencoder.in_channels, size, size))
        self._null: dict | None = None  # the encoding of "", made on first use (null_cond)
        #: a trained style adapter for ``style_ref`` (:mod:`~difflab.pipelines.style_adapter`), or the
        #: file it loads from on first use (a folder's ``style_adapter.safetensors``), or None
        self.style_adapter = None

    @property
    def trained_styles(self) -> tuple[str, ...] | None:
        """The rendering styles the model's training captions named (a shapes-world model
        trained without ``--styles`` saw flat scenes only), or None where the folder does not
        say (a model from elsewhere): any words may name a style there."""
        if self.config.get("data", {}).get("name") != "shapes" or "training" not in self.config:
            return None
        return tuple(self.config["training"].get("styles") or ("flat",))

    # -- conditioning ----------------------------------------------------------------
    def encode_prompts(self, prompts: Sequence[str]) -> dict:
        """The denoiser's conditioning for ``prompts``: ``{"context", "context_mask"}``.
        A non-string or over-long prompt is a one-line TypeError / ValueError."""
        emb = self.text_encoder.encode(prompts).to(self.device)
        return {"context": emb.tokens, "context_mask": emb.mask}

    def to(self, device: str | torch.device) -> "TextToImagePipeline":
        """Move the autoencoder and the denoiser to ``device`` (the text encoder stays where
        it is; its outputs follow the denoiser). Returns ``self``."""
        self.autoencoder.to(device)
        self.denoiser.net.to(device)
        if isinstance(self.style_adapter, torch.nn.Module):
            self.style_adapter.to(device)
        return self

    def null_cond(self) -> dict:
        """Classifier-free guidance's unconditional branch: the encoding of ``""`` (encoded
        once, on the denoiser's device)."""
        if self._null is None or self._null["context"].device != self.device:
            self._null = {k: v[0] for k, v in self.encode_prompts([""]).items()}
        return self._null

    def guided(self, guidance: float):
        """The denoiser under classifier-free guidance of scale ``guidance`` (s; 1 = none)."""
        from ..guidance import ClassifierFreeGuidance

        return ClassifierFreeGuidance(self.denoiser, guidance, self.null_cond())

    # -- generation ---------------------------------------------------------------
    def styled(self, prompts: Sequence[str], guidance: float, style: str | None, stylize: float | None,
               negative_prompt: str | None = None, denoiser=None, null_extra: dict | None = None,
               style_sigma: float | None = None) -> tuple:
        """(model, cond) for ``prompts`` drawn in ``style`` (a style word, named as the training
        captions name styles: "PROMPT in STYLE style") with strength ``stylize``: None or 1 is
        ordinary guidance on the styled prompt; otherwise the style is a guidance term of its
        own of scale ``stylize * guidance`` beside the content's (:class:`~difflab.guidance.StyleGuidance`;
        0: the content alone, as if no style were named). ``negative_prompt``: guidance steers
        away from it instead of from the empty prompt (its encoding replaces the null branch),
        so it needs guidance above 1 (at 1 guidance is the conditional model alone; below, it
        would steer toward the negative prompt): refused otherwise.
        ``denoiser``: what guidance wraps (default the pipeline's; e.g. a
        :class:`~difflab.pipelines.style_reference.StyleReference` of it); ``null_extra``:
        conditions of guidance's unconditional branch besides the prompt's (e.g. a style
        adapter's weight 0). ``style_sigma``: the style acts only at noise levels sigma <=
        style_sigma, the content alone above (:class:`~difflab.guidance.StyleGuidance`); None:
        every level for a trained style word, ``LEARNED_STYLE_SIGMA`` for the learned style
        applied (:func:`~difflab.pipelines.learned_styles.apply_style`), whose adapters are then
        off above it; inf: every level."""
        from ..data.shapes import name_style
        from ..guidance import STYLED, ClassifierFreeGuidance, StyleGuidance
        from ..text import check_prompts

        denoiser = self.denoiser if denoiser is None else denoiser
        null = self.null_cond()
        if negative_prompt:
            if not guidance > 1:
                raise ValueError(f"a negative prompt acts through guidance: give a guidance above 1, not {guidance:g}")
            (negative_prompt,) = check_prompts([negative_prompt])
            null = {k: v[0] for k, v in self.encode_prompts([negative_prompt]).items()}
        null = {**null, **(null_extra or {})}
        if style is None:
            if stylize is not None or style_sigma is not None:
                raise ValueError("stylize and style_sigma set how a style acts: name one with style= (--style)")
            return ClassifierFreeGuidance(denoiser, guidance, null), self.encode_prompts(prompts)
        if not isinstance(style, str) or not style.strip():
            raise ValueError(f"style must be a non-empty style word, got {style!r}")
        learned = style.strip() == self.learned_style and has_lora(self.denoiser.net)
        if style_sigma is None:
            style_sigma = LEARNED_STYLE_SIGMA if learned else math.inf
        if not float(style_sigma) >= 0:
            raise ValueError(f"style_sigma must be a noise level >= 0 (inf: every level), got {style_sigma}")
        styled = check_prompts([name_style(p, style.strip()) for p in prompts])
        stylize = 1.0 if stylize is None else float(stylize)
        if not (math.isfinite(stylize) and stylize >= 0):
            raise ValueError(f"stylize must be a number >= 0, got {stylize}")
        if stylize == 1.0 and math.isinf(float(style_sigma)):
            return ClassifierFreeGuidance(denoiser, guidance, null), self.encode_prompts(styled)
        cond = self.encode_prompts(prompts)
        cond.update({STYLED + k: v for k, v in self.encode_prompts(styled).items()})
        content = WithoutStyle(denoiser) if learned else denoiser
        return StyleGuidance(denoiser, guidance, stylize * guidance, null, style_sigma, content), cond

    def frame(self, aspect: str | None) -> tuple[int, int, int]:
        """The latent shape of a frame of aspect ratio ``aspect`` ("W:H", :func:`aspect_size`;
        None: the square the model was trained on). The U-Net is convolutional and its
        attention takes any number of positions, so other frames run; how well the model fills
        them is its own (it saw only squares)."""
        if aspect is None:
            return self.latent_shape
        levels = len((getattr(self.denoiser.net, "config", None) or {}).get("channel_mult") or (1, 1, 1, 1))
        multiple = self.autoencoder.factor * 2 ** (levels - 1)
        height, width = aspect_size(aspect, self.config["image_size"], multiple)
        return self.autoencoder.latent_shape((self.autoencoder.in_channels, height, width))

    def style_method(self, method: str | None = None) -> str:
        """The way a style reference is borrowed: ``method`` ("adapter" or "shared") checked, or
        for None the adapter where the pipeline has one, else shared attention."""
        if method not in (None, "adapter", "shared"):
            raise ValueError(f"the style reference method must be 'adapter' or 'shared', got {method!r}")
        if method == "adapter" and self.style_adapter is None:
            raise ValueError("this pipeline has no style adapter (train one: difflab train style-adapter)")
        return method or ("shared" if self.style_adapter is None else "adapter")

    def style_reference(self, image, weight: float = 1.0, method: str | None = None) -> tuple:
        """(denoiser, extra conditions, extra null conditions) that borrow the style of ``image``
        with strength ``weight``, by ``method``:

        - ``"adapter"``: the pipeline's trained style adapter (IP-Adapter, :attr:`style_adapter`,
          :mod:`~difflab.pipelines.style_adapter`): the reference's tokens enter every
          cross-attention layer with weight w = ``weight``; guidance's unconditional branch has
          w = 0, so the style is guided with the prompt;
        - ``"shared"``: shared attention with the reference's latent, no training
          (:class:`~difflab.pipelines.style_reference.StyleReference`; the reference gets the
          empty prompt);
        - None: the adapter where the pipeline has one, else shared attention."""
        from .style_adapter import adapted, load_style_adapter, reference_pixels

        method = self.style_method(method)
        pixels = reference_pixels(image, self.config["image_size"]).to(self.device)
        if method == "shared":
            from .style_reference import StyleReference

            latent = self.autoencoder.encode_latents(pixels, mode=True)
            return StyleReference(self.denoiser, latent, self.null_cond(), weight), {}, {}
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
            raise ValueError(f"the style weight must be a finite number >= 0, got {weight}")
        if not isinstance(self.style_adapter, torch.nn.Module):  # a file named by the folder: load it now
            self.style_adapter, _ = load_style_adapter(self.style_adapter, self.denoiser.net)
        tokens = self.style_adapter.encode(pixels)
        return (adapted(self.denoiser, self.style_adapter), {"style_tokens": tokens},
                {"style_weight": torch.zeros((), device=self.device)})

    @torch.no_grad()
    def latents(self, prompts: Sequence[str], *, seed: int = 0, sampler: str | None = None,
                steps: int | None = None, guidance: float | None = None, spacing: str | None = None,
                style: str | None = None, stylize: float | None = None, aspect: str | None = None,
                negative_prompt: str | None = None, callback=None, style_ref=None, style_weight: float = 1.0,
                style_method: str | None = None, style_sigma: float | None = None,
                shared: SharedEvaluations | None = None, **options) -> tuple[torch.Tensor, GenerationInfo]:
        """Sample latents, one per prompt: prompt i starts from the noise of seed ``seed + i``
        (so a batch equals one call per prompt with its own seed). ``style``, ``stylize``,
        ``style_sigma``, ``negative_prompt``: see :meth:`styled`; ``aspect``: the frame, see :meth:`frame`;
        ``callback``: called after every step with the sampler's dict (``i``, ``x``,
        ``sigma``, ``x0``: the latents and their current clean estimate). ``style_ref``: an
        image (path, PIL image or uint8 array at the pipeline's size) whose style is borrowed,
        ``style_weight`` its strength, ``style_method`` how (:meth:`style_reference`); through a
        style adapter it acts only at noise levels sigma <= ``style_sigma`` (default
        :data:`REFERENCE_STYLE_SIGMA`; inf: every level; :class:`~difflab.pipelines.style_adapter.LateReference`).
        ``shared``: evaluations this run records above the level where its style starts to act, or
        (after such a run) replays where it follows the same path (:class:`~difflab.denoiser.SharedEvaluations`;
        :meth:`keep_prompt_colours`); ``nfe`` counts only the evaluations made."""
        from ..samplers import sample

        d = self.config["defaults"]
        sampler = d["sampler"] if sampler is None else sampler
        steps = d["steps"] if steps is None else int(steps)
        guidance = d["guidance"] if guidance is None else float(guidance)
        spacing = d.get("spacing") if spacing is None else spacing
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        shape = self.frame(aspect)
        if style_ref is not None and self.style_method(style_method) == "shared" and tuple(shape) != tuple(self.latent_shape):
            raise ValueError(f"a style reference by shared attention shares attention with its own square frame; it "
                             f"does not combine with aspect {aspect!r} (use 1:1, no aspect, or a style adapter)")
        start = time.perf_counter()
        base, extra, null_extra = self.style_reference(style_ref, style_weight, style_method) \
            if style_ref is not None else (None, {}, {})
        reference_sigma = None
        if "style_tokens" in extra:  # an adapter's reference acts at sigma <= style_sigma only
            reference_sigma = REFERENCE_STYLE_SIGMA if style_sigma is None else float(style_sigma)
            if not reference_sigma >= 0:
                raise ValueError(f"style_sigma must be a noise level >= 0 (inf: every level), got {style_sigma}")
            if not math.isinf(reference_sigma):
                from .style_adapter import LateReference

                base = LateReference(base, reference_sigma)
        elif style_sigma is not None and style is None:
            raise ValueError("style_sigma sets where a style acts: name one with style=, or give a style_ref to a "
                             "pipeline with a style adapter" if style_ref is None else
                             "style_sigma sets where a style reference acts through a style adapter; shared "
                             "attention acts at every level")
        model, cond = self.styled(prompts, guidance, style, stylize, negative_prompt, base, null_extra,
                                  None if style is None else style_sigma)
        n = cond["context"].shape[0]
        if "style_tokens" in extra:  # every branch but the unconditional one sees the reference
            from ..guidance import STYLED

            w = torch.full((n,), float(style_weight), device=self.device)
            cond.update(extra, style_weight=w, **({STYLED + "style_weight": w} if STYLED + "context" in cond else {}))
        # where this run departs from the same prompt without its style and reference (neither acts above)
        acts_from = [math.inf if getattr(model, "style_sigma", None) is None else float(model.style_sigma)] \
            if style is not None else []
        acts_from += [math.inf if reference_sigma is None else reference_sigma] if style_ref is not None else []
        run = model if shared is None else shared.wrap(model, above=max(acts_from, default=None))
        z, info = sample(run, (n, *shape), sampler, steps, generator=seed,
                         spacing=spacing, cond=cond, return_info=True, callback=callback, **options)
        info.nfe -= getattr(run, "hits", 0)
        settings = {"sampler": sampler, "steps": steps, "guidance": guidance, "spacing": spacing, **options,
                    **({"style": style} if style is not None else {}),
                    **({"stylize": float(stylize)} if stylize is not None else {}),
                    **({"style_sigma": float(model.style_sigma)} if getattr(model, "style_sigma", None) is not None
                       else {"style_sigma": reference_sigma} if reference_sigma is not None else {}),
                    **({"aspect": aspect} if aspect is not None else {}),
                    **({"negative_prompt": negative_prompt} if negative_prompt else {}),
                    **({"style_ref": True, "style_weight": float(style_weight),
                        "style_method": "shared" if not extra else "adapter"} if style_ref is not None else {})}
        if info.order is not None:  # the multistep order that ran (capped under guidance), to reproduce the image
            settings.setdefault("order", info.order)
        return z, GenerationInfo(list(prompts), [seed + i for i in range(n)], info.nfe,
                                 time.perf_counter() - start, settings)

    def calibration(self, n: int, *, guidance: float | None = None, prompt_seed: int = CALIBRATION_SEED) -> tuple:
        """(model, noise shape, cond) of ``n`` latents for prompts drawn as users write them (half
        single-object, half two-object prompts of the shapes world, from ``prompt_seed``: not the
        evaluation's prompts), at guidance ``guidance`` or the pipeline's default: what a grid is
        optimized on (:func:`difflab.samplers.optimize_grid`)."""
        prompts = [p for p, _ in calibration_prompts(n, prompt_seed)]
        guidance = self.config["defaults"]["guidance"] if guidance is None else float(guidance)
        return self.guided(guidance), (n, *self.latent_shape), self.encode_prompts(prompts)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) in [-1, 1] from latents."""
        return self.autoencoder.decode_latents(latents).clamp(-1, 1)

    @torch.no_grad()
    def __call__(self, prompts: str | Sequence[str], n_per_prompt: int = 1, *, seed: int = 0,
                 output: str = "uint8", return_info: bool = False, keep_colours: bool = False, **sampling):
        """Generate ``n_per_prompt`` images for each prompt.

        ``prompts``: a str or a list of str (``""`` is unconditional). Image j of the
        (prompt-major) batch uses seed ``seed + j``. ``sampling``: ``sampler``, ``steps``,
        ``guidance``, ``spacing`` and sampler options (defaults: ``config["defaults"]``).
        ``output``: ``"uint8"`` (N, H, W, 3) numpy array or ``"tensor"`` (N, 3, H, W) in [-1, 1].
        ``keep_colours``: with a ``style`` or a ``style_ref``, each image takes its hue from the
        same prompt and noise drawn without them and keeps the styled image's lightness and
        saturation (:meth:`keep_prompt_colours`; colour preservation after Gatys et al. 2016); it
        samples the unstyled image too, below the style's level where the style acts only there.
        The colours the prompt names then survive a style that would repaint them
        (docs/styles.md, section 6).
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        if isinstance(n_per_prompt, bool) or not isinstance(n_per_prompt, int) or n_per_prompt < 1:
            raise ValueError(f"n_per_prompt must be a positive integer, got {n_per_prompt!r}")
        if output not in ("uint8", "tensor"):
            raise ValueError(f"output must be 'uint8' or 'tensor', got {output!r}")
        from ..text import check_prompts

        batch = [p for p in check_prompts(prompts) for _ in range(n_per_prompt)]
        if keep_colours:
            _check_keep_colours(sampling)
        start = time.perf_counter()
        shared = SharedEvaluations() if keep_colours else None
        z, info = self.latents(batch, seed=seed, shared=shared, **sampling)
        x = self.decode(z)
        if keep_colours:
            x, nfe = self.keep_prompt_colours(x, batch, seed=seed, shared=shared, **sampling)
            info.nfe += nfe
            info.settings["keep_colours"] = True
        info.seconds = time.perf_counter() - start
        if output == "uint8":
            from ..data.shapes import to_uint8

            x = to_uint8(x)
        return (x, info) if return_info else x

    @torch.no_grad()
    def keep_prompt_colours(self, images: torch.Tensor, prompts: Sequence[str], *, seed: int = 0, callback=None,
                            shared: SharedEvaluations | None = None, **sampling) -> tuple[torch.Tensor, int]:
        """``images`` (N, 3, H, W) in [-1, 1], drawn for ``prompts`` with a style or a style
        reference by :meth:`latents` (``seed``, ``sampling``), with the hue of the same prompts and
        seeds drawn without them (:func:`difflab.colour.keep_hue`); and the NFE spent. Without
        them means: no reference, and a style at ``style_sigma=0``, the content alone at every level
        (for a learned style the base network, its adapters off), which shares the styled run's
        path above its ``style_sigma``: given the ``shared`` evaluations the styled run recorded
        (:meth:`latents`), it evaluates only below that level. ``callback``: as :meth:`latents`'."""
        from ..colour import keep_hue

        _check_keep_colours(sampling)
        plain = {**sampling, "style_ref": None}
        if sampling.get("style") is not None:
            plain["style_sigma"] = 0.0
        else:
            plain.pop("style_sigma", None)
        content, info = self.latents(prompts, seed=seed, callback=callback, shared=shared, **plain)
        return keep_hue(images, self.decode(content)), info.nfe

    # -- editing (SDEdit, RePaint) in the latent space --------------------------------
    def codec(self):
        """(encode, decode) between pixels (N, 3, H, W) in [0, 1] and this pipeline's
        latents, for :func:`difflab.pipelines.editing.inpaint_image` and
        :func:`difflab.pipelines.editing.img2img_image`: ``scale_factor`` times the posterior mean of
        the encoder (deterministic), and the decoder clamped to the pixel range."""
        ae, device = self.autoencoder, self.device

        def encode(x: torch.Tensor) -> torch.Tensor:
            return ae.encode_latents(x.to(device) * 2 - 1, mode=True)

        def decode(z: torch.Tensor) -> torch.Tensor:
            return ((self.decode(z) + 1) / 2).cpu()

        return encode, decode

    def _edit_args(self, prompt: str, n: int, guidance: float | None) -> tuple:
        from ..text import check_prompts

        (prompt,) = check_prompts([prompt])
        guidance = self.config["defaults"]["guidance"] if guidance is None else float(guidance)
        return self.guided(guidance), self.encode_prompts([prompt] * n)

    def inpaint(self, image, mask, prompt: str = "", *, n: int = 1, seed: int = 0, guidance: float | None = None,
                steps: int = 50, method: str = "repaint", sampler: str = "ddpm", jump_length: int = 10,
                resample: int = 10, feather: float = 0.0, **options):
        """Regenerate the white part of ``mask`` following ``prompt`` (RePaint in the latent
        space, Lugmayr et al. 2022; the mask max-pooled to the latent grid) and paste the
        kept pixels back exactly. ``image``: a path, PIL image or uint8 array of the
        pipeline's size. Returns an :class:`~difflab.masks.EditResult`."""
        from .editing import inpaint_image
        from ..masks import load_image

        size = self.config["image_size"]
        pixels = load_image(image, "RGB", size)
        model, cond = self._edit_args(prompt, n, guidance)
        encode, decode = self.codec()
        return inpaint_image(model, pixels, mask, method=method, steps=steps, n=n, sampler=sampler,
                             jump_length=jump_length, jump_n_sample=resample, generator=seed, cond=cond,
                             encode=encode, decode=decode, mode="RGB", feather=feather, **options)

    def img2img(self, image, prompt: str = "", strength: float = 0.6, *, n: int = 1, seed: int = 0,
                guidance: float | None = None, steps: int = 50, sampler: str = "ddim", **options):
        """SDEdit (Meng et al. 2022) of ``image`` towards ``prompt`` in the latent space:
        the last ``round(strength * steps)`` steps are run. Returns an
        :class:`~difflab.masks.EditResult` (its ``info`` says how many steps ran)."""
        from .editing import img2img_image
        from ..masks import load_image

        pixels = load_image(image, "RGB", self.config["image_size"])
        model, cond = self._edit_args(prompt, n, guidance)
        encode, decode = self.codec()
        return img2img_image(model, pixels, strength, sampler=sampler, steps=steps, n=n, generator=seed, cond=cond,
                             encode=encode, decode=decode, mode="RGB", **options)

    # -- folders ------------------------------------------------------------------
    def save(self, folder, *, dtype: torch.dtype | None = None, ema_state: dict | None = None,
             extra: dict | None = None) -> Path:
        """Write the pipeline folder (module docstring). ``dtype`` (e.g. ``torch.float16``)
        stores the weights in that precision (loading casts them back to float32);
        ``ema_state``: the denoiser's EMA weights, stored as ``ema.safetensors``."""
        from ..io.folders import save_autoencoder, save_model, write_pipeline_config

        folder = Path(folder)
        size = self.config["image_size"]
        save_autoencoder(folder / "autoencoder", self.autoencoder, {"data": {
            **self.config.get("data", {}), "shape": [self.autoencoder.in_channels, size, size]}}, dtype=dtype)
        save_model(folder / "denoiser", self.denoiser, {"task": "text-to-image-denoiser", **(extra or {})},
                   ema_state=ema_state, dtype=dtype)
        write_pipeline_config(folder, {"task": "text-to-image", "text_encoder": self.text_encoder.config,
                                       **self.config})
        return folder

    @classmethod
    def load(cls, folder, device: str | torch.device = "cpu", ema: bool = True,
             config=None) -> "TextToImagePipeline":
        """Load a folder written by :meth:`save` (EMA weights when present and ``ema``), a
        diffusers text-to-image folder, or a single-file CompVis / LDM checkpoint
        (``.safetensors``) with ``config``, a diffusers folder of the same model family that
        gives the configs, tokenizer and scheduler (docs/pretrained.md)."""
        from ..io.folders import load_autoencoder, load_model, read_pipeline_config
        from ..text import text_encoder_from_config

        folder = Path(folder)
        from ..io.diffusers import is_diffusers_folder

        if folder.is_file() or folder.suffix in (".safetensors", ".ckpt"):
            if config is None:
                raise ValueError(f"{folder} is a single-file checkpoint: give the diffusers folder of its model family "
                                 "whose configs, tokenizer and scheduler it uses (config=, --config DIR)")
            return cls._load_diffusers(Path(config), device, single_file=folder)
        if config is not None:
            raise ValueError(f"{folder} is a folder: --config (config=) applies to a single-file checkpoint only")
        if is_diffusers_folder(folder):
            return cls._load_diffusers(folder, device)
        config = read_pipeline_config(folder, "text-to-image", required=("text_encoder",))
        autoencoder, _ = load_autoencoder(folder / "autoencoder", device)
        denoiser, _ = load_model(folder / "denoiser", ema=ema, device=device)
        text_encoder = text_encoder_from_config(config.pop("text_encoder"))
        pipe = cls(autoencoder, denoiser, text_encoder, config)
        from .style_adapter import ADAPTER_FILE

        if (folder / ADAPTER_FILE).is_file():  # loaded (and checked against the denoiser) on first use
            pipe.style_adapter = folder / ADAPTER_FILE
        return pipe

    @classmethod
    def _load_diffusers(cls, folder: Path, device, single_file=None) -> "TextToImagePipeline":
        """A diffusers text-to-image folder (Stable Diffusion 1.x / 2.x layout; docs/pretrained.md):
        its U-Net, VAE and scheduler read by :func:`difflab.io.diffusers.load_diffusers_text_to_image`,
        its CLIP text encoder by :class:`difflab.text.clip.CLIPTextEncoder`."""
        from ..io.diffusers import load_diffusers_text_to_image
        from ..io.folders import load_grids
        from ..text.clip import CLIPTextEncoder

        parts = load_diffusers_text_to_image(folder, device, single_file=single_file)
        if single_file is None:  # grids difflab tune-grid stored beside the diffusers files
            parts["denoiser"].grids = load_grids(folder)
        text_encoder = CLIPTextEncoder(parts["text_encoder"], parts["tokenizer"], parts["text_encoder_state"]).to(device)
        return cls(parts["autoencoder"], parts["denoiser"], text_encoder, parts["config"])

    @classmethod
    def shipped(cls, device: str | torch.device = "cpu", styles: bool = False) -> "TextToImagePipeline":
        """The pipeline shipped inside the package (:func:`shipped_model_path`), on ``device``;
        ``styles``: the styled one, whose captions named five rendering styles."""
        return cls.load(shipped_model_path(styles), device=device)

    def __repr__(self) -> str:
        return (f"TextToImagePipeline(image_size={self.config['image_size']}, latent_shape={self.latent_shape}, "
                f"text_encoder={self.text_encoder!r}, denoiser={self.denoiser!r})")

"""Pixel-space image models (DDPM, Ho et al. 2020; class-conditional with classifier-free
guidance, Ho & Salimans 2022) behind one pipeline: generate, inpaint, image-to-image.

A model folder written by ``difflab train image`` holds the denoiser and, in its
config, the data it was trained on: the shape (C, H, W), the pixel range and the affine
transform x = (p - shift) / scale into model space, the number of classes and their
names. :class:`ImagePipeline` is that folder as an object; the command line
(``sample``, ``show reverse``, ``inpaint``, ``img2img``), the evaluation and the web app
call it and never re-implement a step.

Conditioning. A class-conditional model (``num_classes`` K) was trained with label
dropout, so label K is the null label and one network is both the conditional and the
unconditional model; sampling runs :class:`~difflab.guidance.ClassifierFreeGuidance` at
scale s (0: unconditional, 1: conditional). :meth:`ImagePipeline.labels` says which
label each image gets: one given label for all, or, when generating without one, the
classes in turn (image i gets class i mod K), so a grid with one column per class shows
every class. An edit without a label is unconditional (the null label), since the kept
pixels already carry the class; ``label="auto"`` reads it off them
(:func:`difflab.tasks.classify.infer_label`).

Randomness. Image i of a call seeded ``seed`` uses seed ``seed + i`` (its starting
noise and its sampler's step noise), whatever the batch it is drawn in.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .base import Pipeline

__all__ = ["ImagePipeline", "DEFAULTS"]

#: sampling settings of a call that does not say otherwise (the command line's defaults)
DEFAULTS = {"sampler": "ddim", "steps": 50, "guidance": 3.0, "spacing": None}


class ImagePipeline(Pipeline):
    """A pixel-space image model: its :class:`~difflab.Denoiser` and its folder config
    (``config["data"]``: shape, pixel range, transform; ``config["num_classes"]``)."""

    def __init__(self, denoiser, config: dict) -> None:
        if config.get("task") != "image":
            raise ValueError(f"an image pipeline needs an image model; this config is of a {config.get('task')!r} model")
        self.denoiser, self.config = denoiser, config
        self.data = config["data"]
        self.shape = tuple(int(v) for v in self.data["shape"])
        self.num_classes = config.get("num_classes") or None

    # -- folders ---------------------------------------------------------------------
    @classmethod
    def load(cls, folder, device: str | torch.device = "cpu", ema: bool = True) -> "ImagePipeline":
        """The image model folder ``folder`` (EMA weights when present and ``ema``)."""
        from ..io.folders import load_model

        denoiser, config = load_model(folder, ema=ema, device=device)
        if config.get("task") != "image":
            raise ValueError(f"{folder}: an image pipeline needs an image model; this folder holds a "
                             f"{config.get('task')!r} model")
        return cls(denoiser, config)

    def save(self, folder, *, ema_state: dict | None = None) -> Path:
        """Write the model folder (:func:`difflab.io.folders.save_model`) with this config."""
        from ..io.folders import MODEL_KEYS, save_model

        extra = {k: v for k, v in self.config.items() if k not in MODEL_KEYS}
        return save_model(folder, self.denoiser, extra, ema_state=ema_state)

    # -- conditioning ----------------------------------------------------------------
    @property
    def classes(self) -> list:
        """The class names (the data's own, else 0 .. K-1); empty for an unconditional model."""
        if not self.num_classes:
            return []
        return list(self.data.get("classes") or range(self.num_classes))

    def check_label(self, label) -> int | None:
        """``label`` checked against the model: None, or a class index 0 .. K-1."""
        if label is None:
            return None
        if not self.num_classes:
            raise ValueError("this model is not class-conditional: a label does not apply")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < self.num_classes:
            raise ValueError(f"label must be in 0..{self.num_classes - 1}, got {label!r}")
        return label

    def labels(self, n: int, label: int | None = None, *, cycle: bool = True) -> torch.Tensor | None:
        """The label of each of ``n`` images: ``label`` for all; without one, the classes in
        turn (``cycle``) or the null label K (unconditional). None for an unconditional model."""
        label = self.check_label(label)
        if not self.num_classes:
            return None
        if label is not None:
            return torch.full((n,), label)
        return torch.arange(n) % self.num_classes if cycle else torch.full((n,), self.num_classes)

    def guided(self, guidance: float | None):
        """The model to sample: classifier-free guidance of scale ``guidance`` (default
        :data:`DEFAULTS`) around a class-conditional denoiser; the denoiser itself otherwise."""
        if not self.num_classes:
            return self.denoiser
        from ..guidance import ClassifierFreeGuidance

        return ClassifierFreeGuidance(self.denoiser, DEFAULTS["guidance"] if guidance is None else guidance)

    def calibration(self, n: int, *, guidance: float | None = None) -> tuple:
        """(model, noise shape, cond) of ``n`` samples drawn as :meth:`sample` draws them (classes in
        turn, guidance ``guidance`` or the default): what a grid is optimized on
        (:func:`difflab.samplers.optimize_grid`)."""
        labels = self.labels(n)
        return self.guided(guidance), (n, *self.shape), ({"labels": labels} if self.num_classes else {})

    # -- pixels <-> model space ------------------------------------------------------
    def codec(self):
        """(encode, decode) between pixels (N, C, H, W) in [0, 1] and model space
        (:func:`difflab.masks.pixel_codec` of the data config)."""
        from ..masks import pixel_codec

        return pixel_codec(self.data)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space samples to pixels in [0, 1] of the pixel range (not clipped)."""
        from ..data import Affine

        lo, hi = self.data["pixel_range"]
        return (Affine.from_config(self.data["transform"]).decode(x.float()) - lo) / (hi - lo)

    @property
    def image_mode(self) -> str:
        """The PIL mode of the model's images: "L" (one channel) or "RGB"."""
        return "L" if self.shape[0] == 1 else "RGB"

    # -- generation ------------------------------------------------------------------
    def sample(self, n: int, *, label: int | None = None, labels: torch.Tensor | None = None, seed: int = 0,
               sampler: str | None = None, steps: int | None = None, guidance: float | None = None,
               spacing: str | None = None, sigmas=None, callback=None, return_info: bool = False, **options):
        """``n`` samples in model space, image i from seed ``seed + i``. ``labels`` (n,)
        gives each image's class; else :meth:`labels` (``label`` for all, or the classes
        in turn). Returns the samples (and a :class:`~difflab.samplers.SampleInfo`)."""
        from ..samplers import sample

        if labels is None:
            labels = self.labels(n, label)
        cond = {"labels": labels} if self.num_classes else {}
        return sample(self.guided(guidance), (n, *self.shape), DEFAULTS["sampler"] if sampler is None else sampler,
                      DEFAULTS["steps"] if steps is None else steps, generator=seed, spacing=spacing, sigmas=sigmas,
                      cond=cond, callback=callback, return_info=return_info, **options)

    def __call__(self, n: int = 1, *, label: int | None = None, seed: int = 0, output: str = "unit",
                 return_info: bool = False, **sampling):
        """Generate ``n`` images: ``output`` ``"unit"`` (N, C, H, W) in [0, 1] or ``"uint8"``
        (N, H, W, C). ``sampling``: ``sampler``, ``steps``, ``guidance``, ``spacing`` and
        sampler options (defaults :data:`DEFAULTS`)."""
        if output not in ("unit", "uint8"):
            raise ValueError(f"output must be 'unit' or 'uint8', got {output!r}")
        x, info = self.sample(n, label=label, seed=seed, return_info=True, **sampling)
        images = self.to_unit(x).clamp(0, 1)
        if output == "uint8":
            from ..masks import to_pixels

            images = to_pixels(images)
        return (images, info) if return_info else images

    # -- editing ---------------------------------------------------------------------
    def infer_label(self, image, mask, *, seed: int = 0) -> int:
        """The class of ``image`` read off its pixels outside ``mask`` (white = hidden) by
        the model itself (:func:`difflab.tasks.classify.infer_label`)."""
        from ..masks import from_pixels, load_image, load_mask
        from ..tasks.classify import infer_label

        if not self.num_classes:
            raise ValueError("this model is not class-conditional: there is no label to infer")
        pixels = load_image(image, self.image_mode, self.shape[1:])
        m = load_mask(mask, pixels.shape[:2])
        encode, _ = self.codec()
        with torch.no_grad():
            return int(infer_label(self.denoiser, encode(from_pixels(pixels)), m, self.num_classes,
                                   generator=seed)[0][0])

    def _edit_model(self, label, n: int, guidance: float | None):
        """(model, cond) of an edit: guided towards ``label``, or unconditional without one."""
        label = self.check_label(label)
        if not self.num_classes:
            return self.denoiser, {}
        guidance = DEFAULTS["guidance"] if guidance is None else guidance
        return self.guided(guidance if label is not None else 0.0), {"labels": self.labels(n, label, cycle=False)}

    def inpaint(self, image, mask, label: int | str | None = None, *, n: int = 1, seed: int = 0,
                guidance: float | None = None, steps: int = 50, method: str = "repaint", sampler: str = "ddpm",
                jump_length: int = 10, resample: int = 10, feather: float = 0.0, **options):
        """Regenerate the white part of ``mask`` in ``image`` (RePaint, Lugmayr et al. 2022,
        or replacement) and keep the rest to the bit; ``label`` steers a class-conditional
        model (``"auto"``: :meth:`infer_label`). Returns an :class:`~difflab.masks.EditResult`
        whose ``info`` has the label used."""
        from .editing import inpaint_image

        if label == "auto":
            label = self.infer_label(image, mask, seed=seed)
        model, cond = self._edit_model(label, n, guidance)
        encode, decode = self.codec()
        result = inpaint_image(model, image, mask, method=method, steps=steps, n=n, sampler=sampler,
                               jump_length=jump_length, jump_n_sample=resample, generator=seed, cond=cond,
                               encode=encode, decode=decode, mode=self.image_mode, size=self.shape,
                               feather=feather, **options)
        if label is not None:
            result.info["label"] = label
        return result

    def img2img(self, image, label: int | None = None, strength: float = 0.6, *, n: int = 1, seed: int = 0,
                guidance: float | None = None, steps: int = 50, sampler: str = "ddim", **options):
        """SDEdit (Meng et al. 2022) of ``image`` towards ``label`` (unconditional without
        one): the last ``round(strength * steps)`` steps are run. Returns an
        :class:`~difflab.masks.EditResult`."""
        from .editing import img2img_image

        model, cond = self._edit_model(label, n, guidance)
        encode, decode = self.codec()
        return img2img_image(model, image, strength, sampler=sampler, steps=steps, n=n, generator=seed, cond=cond,
                             encode=encode, decode=decode, mode=self.image_mode, size=self.shape, **options)

    def __repr__(self) -> str:
        return (f"ImagePipeline(data={self.data.get('name')!r}, shape={self.shape}, num_classes={self.num_classes}, "
                f"denoiser={self.denoiser!r})")

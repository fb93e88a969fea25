"""Classifier-free guidance (Ho & Salimans 2022), as a wrapper around a denoiser.

One network trained with its condition c dropped (replaced by a "null" condition)
some of the time estimates both the conditional and the unconditional denoiser.
Guidance extrapolates from the second towards the first (Ho & Salimans 2022, eq. 6,
written with s = 1 + w):

    D_s(x; sigma, c) = D(x; sigma, null) + s * (D(x; sigma, c) - D(x; sigma, null)).

So ``scale`` s = 0 is the unconditional model, s = 1 the conditional one, and s > 1
sharpens samples towards the condition at the cost of diversity (Ho & Salimans use
w = s - 1; Stable Diffusion's "guidance scale" is our s).

We guide the x0 prediction that samplers see. At one (x_t, t) every
parameterization is an affine function of x0 with the same coefficients for both
halves (eps = (x_t - alpha x0) / sigma, v, score likewise, see
:mod:`difflab.predictions`), so guiding x0 is exactly guiding eps (as in the
paper), v or the score.

The conditional and unconditional halves go through the network as one batch
of 2N (as in the tinygrad and Stable Diffusion pipelines). A sampler counts
that as one evaluation (NFE); it costs two per sample.
"""

from __future__ import annotations

import math

import torch

from .denoiser import DenoiserWrapper

__all__ = ["ClassifierFreeGuidance", "classifier_free_guidance", "StyleGuidance", "STYLED", "at_or_below",
           "EmbeddingGuidance"]


def null_labels(denoiser) -> dict:
    config = getattr(getattr(denoiser, "net", None), "config", None) or {}
    if config.get("num_classes") is None:
        raise ValueError("null_cond is needed: the network has no num_classes in its config to infer the null label from")
    return {"labels": int(config["num_classes"])}


#: multistep order a sampler gets by default under guidance (see ``ClassifierFreeGuidance.max_solver_order``)
GUIDED_MAX_ORDER = 2


class ClassifierFreeGuidance:
    """``denoiser`` guided with ``scale``: a callable ``(x, sigma, **cond) -> x0`` with a
    ``.schedule``, usable wherever a :class:`~difflab.Denoiser` is (e.g. :func:`difflab.sample`).

    Args:
        denoiser: a :class:`~difflab.Denoiser` (or any ``(x, sigma, **cond) -> x0``
            with a ``.schedule``) whose network was trained with condition dropout.
        scale: guidance scale s: 0 unconditional, 1 conditional, > 1 extrapolates.
        null_cond: the unconditional branch's conditioning, a dict key -> value that
            broadcasts to the batch, e.g. ``{"labels": num_classes}`` (the
            :class:`~difflab.nets.UNet`'s null label), ``{"context": empty_tokens}``
            or ``{"context_mask": False}`` (no token is attended). Conditioning keys
            not named in it (e.g. ``concat``, the image an inpainting model is
            conditioned on) are shared by both halves. Default: the null label of a
            network whose config has ``num_classes``.

    ``scale`` 0 and 1 need only one half: they call the denoiser once with the
    unconditional or conditional batch of N, and so equal it exactly.
    """

    def __init__(self, denoiser, scale: float, null_cond: dict | None = None) -> None:
        if not callable(denoiser) or not hasattr(denoiser, "schedule"):
            raise TypeError("denoiser must be a difflab Denoiser (callable with a .schedule)")
        scale = float(scale)
        if not math.isfinite(scale):
            raise ValueError(f"scale must be a finite number, got {scale}")
        if null_cond is None:
            null_cond = null_labels(denoiser)
        if not isinstance(null_cond, dict) or not null_cond:
            raise ValueError("null_cond must be a non-empty dict of conditioning key -> unconditional value")
        self.denoiser, self.scale, self.null_cond = denoiser, scale, dict(null_cond)

    # -- what samplers look at -------------------------------------------------------
    @property
    def schedule(self):
        return self.denoiser.schedule

    @property
    def net(self):
        return getattr(self.denoiser, "net", None)

    def branch_weights(self) -> tuple[float, ...]:
        """The guided output as a combination of the branches' outputs, sum_k c_k D_k with
        sum_k c_k = 1: (1 - s, s) for (unconditional, conditional)."""
        return (1.0 - self.scale, self.scale)

    @property
    def max_solver_order(self) -> int | None:
        """The highest multistep order :func:`difflab.sample` gives a sampler by default on this
        model: 2 where guidance extrapolates (a branch weight below 0, i.e. s > 1 or s < 0), else
        no limit (None): 0 <= s <= 1 interpolates between the branches.

        A guided D_s = D_u + s (D_c - D_u) changes faster along the trajectory than either
        branch, and a multistep solver's polynomial through several past outputs extrapolates
        that change: high orders are unstable at large guidance scales, which is why
        DPM-Solver++ takes its second-order multistep method for guided sampling (Lu et al.
        2022b, sec. 4-5) and UniPC recommends order 2 for guided, 3 for unconditional sampling
        (Zhao et al. 2023). An ``order`` passed to the sampler is kept."""
        return GUIDED_MAX_ORDER if min(self.branch_weights()) < 0 else None

    def train(self, mode: bool = True) -> "ClassifierFreeGuidance":
        if hasattr(self.denoiser, "train"):
            self.denoiser.train(mode)
        return self

    def eval(self) -> "ClassifierFreeGuidance":
        return self.train(False)

    # -- the guided call ---------------------------------------------------------------
    def _uncond(self, cond: dict) -> dict:
        """The unconditional half's conditioning: each null value broadcast to its conditional twin."""
        out = dict(cond)
        for key, null in self.null_cond.items():
            ref = cond.get(key)
            if not isinstance(ref, torch.Tensor):
                raise ValueError(f"guidance replaces cond[{key!r}] by null_cond[{key!r}], but cond has no tensor "
                                 f"{key!r}: pass the condition explicitly (got {type(ref).__name__})")
            null = torch.as_tensor(null, dtype=ref.dtype, device=ref.device)
            try:
                out[key] = null.broadcast_to(ref.shape)
            except RuntimeError:
                raise ValueError(f"null_cond[{key!r}] of shape {tuple(null.shape)} does not broadcast to "
                                 f"cond[{key!r}] of shape {tuple(ref.shape)}") from None
        return out

    def __call__(self, x: torch.Tensor, sigma, **cond) -> torch.Tensor:
        """The guided D_s(x; sigma, c): one denoiser call on a batch of 2N (N for s = 0 or 1)."""
        if self.scale == 1.0:
            return self.denoiser(x, sigma, **cond)
        uncond = self._uncond(cond)
        if self.scale == 0.0:
            return self.denoiser(x, sigma, **uncond)
        n = x.shape[0]
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        sigma = sigma.expand(n) if sigma.ndim == 0 else sigma
        both = {}
        for key, c in cond.items():
            if isinstance(c, torch.Tensor) and c.ndim > 0 and c.shape[0] == n:
                both[key] = torch.cat([c, uncond[key]])
            elif key in self.null_cond:
                raise ValueError(f"cond[{key!r}] must have batch size {n}, got shape {tuple(c.shape)}")
            else:  # shared by both halves and not per-sample (None, a number ...)
                both[key] = c
        x0 = self.denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]), **both)
        x0_cond, x0_uncond = x0[:n], x0[n:]
        return x0_uncond + self.scale * (x0_cond - x0_uncond)

    def __repr__(self) -> str:
        return f"ClassifierFreeGuidance({self.denoiser!r}, scale={self.scale}, null_cond={list(self.null_cond)})"


def classifier_free_guidance(denoiser, scale: float, null_cond: dict | None = None) -> ClassifierFreeGuidance:
    """Functional spelling of :class:`ClassifierFreeGuidance`."""
    return ClassifierFreeGuidance(denoiser, scale, null_cond)


#: conditioning keys of the styled prompt in :class:`StyleGuidance` are this prefix + the content key
STYLED = "styled_"


def at_or_below(sigma, n: int, level: float) -> torch.Tensor:
    """(n,) bool on the CPU: which of a batch of ``n`` samples at noise level ``sigma`` (a number
    or (n,)) are at or below ``level``, where a style acts (:class:`StyleGuidance`,
    :class:`~difflab.pipelines.style_adapter.LateReference`)."""
    s = torch.as_tensor(sigma, dtype=torch.float64).cpu()
    return (s.expand(n) if s.ndim == 0 else s) <= level


class StyleGuidance(ClassifierFreeGuidance):
    """Classifier-free guidance with the style as a term of its own: a sum of guidance
    directions as in composable diffusion (Liu et al. 2022, the conjunction of conditions),
    nested like InstructPix2Pix's image and text terms (Brooks et al. 2023):

        D = D(x; null) + s (D(x; c) - D(x; null)) + s_style (D(x; c + style) - D(x; c)),

    where c is the content prompt and c + style the same prompt naming a style. ``style_scale``
    s_style = 0 is the content alone, s_style = s is ordinary guidance on the styled prompt
    (the two directions add up to s (D(c + style) - D(null))), and s_style > s pushes the
    style harder than the content. ``cond`` holds the content's conditioning under its keys
    and the styled prompt's under ``STYLED + key`` (e.g. ``styled_context``), both of batch
    N; the three branches go through the network as one batch of 3N.

    ``style_sigma``: the style acts only at noise levels sigma <= style_sigma; above it the
    guidance is the content's alone, on ``content_denoiser`` (default ``denoiser``; for a learned
    style, the base network without its adapters). None or inf: at every level.
    """

    def __init__(self, denoiser, scale: float, style_scale: float, null_cond: dict | None = None,
                 style_sigma: float | None = None, content_denoiser=None) -> None:
        super().__init__(denoiser, scale, null_cond)
        style_scale = float(style_scale)
        if not math.isfinite(style_scale):
            raise ValueError(f"style_scale must be a finite number, got {style_scale}")
        self.style_scale = style_scale
        if style_sigma is not None and not float(style_sigma) >= 0:
            raise ValueError(f"style_sigma must be a noise level >= 0, got {style_sigma}")
        self.style_sigma = None if style_sigma is None or math.isinf(float(style_sigma)) else float(style_sigma)
        self.content = ClassifierFreeGuidance(denoiser if content_denoiser is None else content_denoiser,
                                              scale, self.null_cond)

    def branch_weights(self) -> tuple[float, ...]:
        """(1 - s, s - s_style, s_style) for (unconditional, content, styled prompt)."""
        return (1.0 - self.scale, self.scale - self.style_scale, self.style_scale)

    def __call__(self, x: torch.Tensor, sigma, **cond) -> torch.Tensor:
        """The style guided as above where sigma <= ``style_sigma`` (everywhere when None), and
        above it the content alone, D(null) + s (D(c) - D(null)) on ``content_denoiser``: the
        layout, shapes and colours of an image are settled at high noise and its texture at low
        noise (eDiff-I's expert denoisers, Balaji et al. 2022; Choi et al. 2022, sec. 3), so a
        style that enters late draws its texture on the content the base model laid out."""
        if self.style_sigma is None:
            return self._styled(x, sigma, **cond)
        n = x.shape[0]
        late = at_or_below(sigma, n, self.style_sigma)
        if bool(late.all()):
            return self._styled(x, sigma, **cond)
        early = self.content(x, sigma, **{k: v for k, v in cond.items() if not k.startswith(STYLED)})
        if not bool(late.any()):
            return early
        keep = late.to(x.device).view(n, *[1] * (x.ndim - 1))
        return torch.where(keep, self._styled(x, sigma, **cond), early)

    def _styled(self, x: torch.Tensor, sigma, **cond) -> torch.Tensor:
        styled = {k[len(STYLED):]: v for k, v in cond.items() if k.startswith(STYLED)}
        content = {k: v for k, v in cond.items() if not k.startswith(STYLED)}
        missing = [k for k in self.null_cond if k not in styled]
        if missing:
            raise ValueError(f"style guidance needs the styled prompt's conditioning: cond has no "
                             f"{', '.join(STYLED + k for k in missing)}")
        if self.style_scale == self.scale:  # the content branch's weight is 0: plain guidance on the styled prompt
            return ClassifierFreeGuidance.__call__(self, x, sigma, **{**content, **styled})
        n = x.shape[0]
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        sigma = sigma.expand(n) if sigma.ndim == 0 else sigma
        uncond = self._uncond(content)
        batch = {}
        for key, c in content.items():
            if isinstance(c, torch.Tensor) and c.ndim > 0 and c.shape[0] == n:
                batch[key] = torch.cat([c, uncond[key], styled.get(key, c)])
            else:
                batch[key] = c
        x0 = self.denoiser(torch.cat([x, x, x]), torch.cat([sigma, sigma, sigma]), **batch)
        x0_content, x0_uncond, x0_styled = x0[:n], x0[n:2 * n], x0[2 * n:]
        return x0_uncond + self.scale * (x0_content - x0_uncond) + self.style_scale * (x0_styled - x0_content)

    def __repr__(self) -> str:
        return (f"StyleGuidance({self.denoiser!r}, scale={self.scale}, style_scale={self.style_scale}, "
                f"null_cond={list(self.null_cond)})")


class EmbeddingGuidance(DenoiserWrapper):
    """``model`` (a denoiser, or one guided already) steered towards target embeddings by the
    gradient of an image encoder's cosine similarity: classifier guidance (Dhariwal & Nichol
    2021, in the score's form) whose classifier is a contrastive encoder f, as in GLIDE's
    CLIP guidance (Nichol et al. 2022, sec. 2.3), read at the denoised estimate because f never
    saw noise (Chung et al. 2023, "DPS"; Bansal et al. 2023, "universal guidance"):

        D'(x; sigma) = D(x; sigma) + s w(sigma) grad_x cos(f(D(x; sigma)), z),
        w(sigma) = sigma^2 sigma_data^2 / (sigma^2 + sigma_data^2).

    With log p(z | x_t) = s cos(f(x0), z), the score's correction sigma^2 grad log p(z | x_t) is the
    first factor of w. Read at the estimate x0 = D(x; sigma), that likelihood is as sharp at
    sigma = 1000 as at sigma = 0.1, while the true p(z | x_t) = E[p(z | x0) | x_t] flattens as the
    estimate's posterior variance, sigma^2 sigma_data^2 / (sigma^2 + sigma_data^2) for data of
    scale sigma_data, grows; the second factor tempers it by that variance in units of the data's
    (as pseudoinverse-guided diffusion widens its likelihood by the posterior variance, Song et al.
    2023, "PiGDM"). So w ~ sigma^2 where the estimate is sharp and tends to sigma_data^2 above the
    data's scale, where the Jacobian dD / dx ~ 1 / sigma leaves little; untempered, the term grows
    as sigma and wrecks the sample from the first step (docs/unclip.md, sec. 4).

    Args:
        model: ``(x, sigma, **cond) -> x0`` with a ``.schedule`` (a Denoiser, guidance).
        embed: ``x0 -> (N, D)`` embeddings, differentiable (e.g. decode the latents, then
            encode the image); normalised here.
        target: (N, D) or (D,) embeddings to steer towards, normalised here; N is the batch the
            sampler runs.
        scale: s; 0 is ``model`` exactly.
        sigma_data: the data's scale in w (default: what ``model`` declares, else 1).

    The gradient runs through ``model``: each evaluation costs a backward pass besides the forward.
    """

    def __init__(self, model, embed, target: torch.Tensor, scale: float, sigma_data: float | None = None) -> None:
        if not callable(model) or not hasattr(model, "schedule"):
            raise TypeError("model must be a difflab Denoiser or guidance wrapper (callable with a .schedule)")
        if not callable(embed):
            raise TypeError("embed must be a function x0 -> embeddings")
        scale = float(scale)
        if not math.isfinite(scale) or scale < 0:
            raise ValueError(f"the embedding guidance scale must be a finite number >= 0, got {scale}")
        if sigma_data is None:
            from .samplers.run import model_attribute

            sigma_data = model_attribute(model, "sigma_data") or 1.0
        if not float(sigma_data) > 0:
            raise ValueError(f"sigma_data must be > 0, got {sigma_data}")
        target = torch.as_tensor(target, dtype=torch.float32)
        if target.ndim not in (1, 2) or not torch.isfinite(target).all() or not bool((target.norm(dim=-1) > 0).all()):
            raise ValueError(f"target must be finite non-zero embeddings of shape (N, D) or (D,), got {tuple(target.shape)}")
        super().__init__(model)
        self.embed, self.scale, self.sigma_data = embed, scale, float(sigma_data)
        self.target = torch.nn.functional.normalize(target, dim=-1)

    def branch_weights(self) -> tuple[float, ...]:
        return self.denoiser.branch_weights() if hasattr(self.denoiser, "branch_weights") else (1.0,)

    @property
    def max_solver_order(self) -> int | None:
        return getattr(self.denoiser, "max_solver_order", None)

    def weight(self, sigma) -> torch.Tensor:
        """w(sigma) = sigma^2 sigma_data^2 / (sigma^2 + sigma_data^2), in float64."""
        s2 = torch.as_tensor(sigma, dtype=torch.float64) ** 2
        return s2 * self.sigma_data ** 2 / (s2 + self.sigma_data ** 2)

    def __call__(self, x: torch.Tensor, sigma, **cond) -> torch.Tensor:
        if self.scale == 0.0:
            return self.denoiser(x, sigma, **cond)
        n = x.shape[0]
        target = self.target.to(x.device)
        if target.ndim == 2 and target.shape[0] != n:
            raise ValueError(f"embedding guidance has {target.shape[0]} targets for a batch of {n}")
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            x0 = self.denoiser(x, sigma, **cond)
            e = torch.nn.functional.normalize(self.embed(x0).float(), dim=-1)
            (grad,) = torch.autograd.grad((e * target).sum(), x)
        w = self.weight(sigma)
        w = (w.expand(n) if w.ndim == 0 else w).to(x0.device, x0.dtype).view(n, *[1] * (x0.ndim - 1))
        return (x0 + self.scale * w * grad.to(x0.dtype)).detach()

    def __repr__(self) -> str:
        return f"EmbeddingGuidance({self.denoiser!r}, scale={self.scale}, sigma_data={self.sigma_data})"

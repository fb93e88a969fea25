"""Training a style adapter (IP-Adapter, Ye et al. 2023) for a frozen text-to-image pipeline:
``difflab train style-adapter`` (:mod:`~difflab.pipelines.style_adapter` explains the recipe and
applies the result).

Two targets. ``"data"``: the pipeline's own denoising loss on the scene, whose target v = alpha
eps - sigma x_0 carries the whole noise of one draw, so the part the reference can explain (the
style) is a small signal in it. ``"style-word"``, for styles the pipeline was trained to name:
the frozen pipeline's own prediction for the scene's caption *naming* its style,

    L = E_{t, eps} || v_phi(x_t, t; c, x_ref) - v_theta(x_t, t; c + style) ||^2,

a distillation (Hinton et al. 2015; as in guided-diffusion distillation, Meng et al. 2023): the
target is the model's conditional expectation, with no draw's noise in it, and the adapter learns
to read from an image what the caption would have said.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..nets.style_adapter import StyleAdapter
from ..train.loop import DenoisingLoss
from ..train.run_folder import trainer
from .style_adapter import ADAPTER_FILE, adapted, load_style_adapter, save_style_adapter

__all__ = ["train_style_adapter", "TARGETS", "LateTimes"]

#: what the adapter's prediction is fit to (module docstring)
TARGETS = ("data", "style-word")
#: the conditions of the teacher's caption in a batch: TEACHER + "context", TEACHER + "context_mask"
TEACHER = "teacher_"


class StyleWordTarget(DenoisingLoss):
    """The ``"style-word"`` target (module docstring): the mean squared error, in the denoiser's
    own prediction space, between the adapted network given the content caption and the
    reference, and the frozen ``teacher`` denoiser given the caption naming the style (the
    batch's ``TEACHER + key`` conditions), at the same x_t and t, times drawn as the denoising
    loss draws them."""

    def __init__(self, teacher) -> None:
        super().__init__(teacher)
        self.config = {**self.config, "target": "style-word"}

    def __call__(self, net, x0, cond, noise):
        from ..processes import q_sample

        t = torch.as_tensor(noise["t"], dtype=torch.float64).cpu()
        x_t = q_sample(self.denoiser.schedule, x0, t, noise["noise"].to(x0))
        teacher = {k[len(TEACHER):]: v for k, v in cond.items() if k.startswith(TEACHER)}
        with torch.no_grad():
            target = self.denoiser.net_output(x_t, t, **teacher).float()
        student = copy.copy(self.denoiser)
        student.net = net
        out = student.net_output(x_t, t, **{k: v for k, v in cond.items() if not k.startswith(TEACHER)})
        return (out.float() - target).pow(2).mean()


class LateTimes:
    """A training loss whose times are drawn only where sigma(t) <= ``style_sigma``: uniformly
    over those table entries of a DDPM table, uniformly on [t_min, t(style_sigma)] otherwise.
    For an adapter whose reference acts only there
    (:class:`~difflab.pipelines.style_adapter.LateReference`), all of its capacity goes where
    it is used. ``loss``: the :class:`~difflab.train.loop.Loss` it draws for."""

    def __init__(self, loss, style_sigma: float) -> None:
        from ..schedules import DiscreteSchedule

        if not float(style_sigma) > 0:
            raise ValueError(f"style_sigma must be a noise level > 0, got {style_sigma}")
        self.loss, schedule = loss, loss.denoiser.schedule
        self.config = {**loss.config, "style_sigma": float(style_sigma)}
        t_max = schedule.t_from_ve_sigma(torch.tensor(float(style_sigma), dtype=torch.float64))
        if isinstance(schedule, DiscreteSchedule):
            self.entries = int(torch.floor(schedule.index_from_t(t_max)).clamp(0, schedule.T - 1)) + 1
        else:
            self.entries = None
        self.schedule, self.t_max = schedule, float(t_max)

    def draw(self, x0: torch.Tensor, cond: dict, generator: torch.Generator) -> tuple[dict, dict]:
        cond, noise = self.loss.draw(x0, cond, generator)
        n = x0.shape[0]
        if self.entries is not None:
            index = torch.randint(0, self.entries, (n,), generator=generator).to(torch.float64)
            noise["t"] = self.schedule.t_from_index(index)
        else:
            u = torch.rand(n, generator=generator, dtype=torch.float64)
            noise["t"] = self.schedule.t_min + (self.t_max - self.schedule.t_min) * u
        return cond, noise

    def __call__(self, net, x0, cond, noise):
        return self.loss(net, x0, cond, noise)


def initial_adapter(init, net) -> tuple[StyleAdapter, dict]:
    """The adapter a run starts from (``init`` of :func:`train_style_adapter`): one adapter file,
    or a decoupled and a joint one made into an ``attention="both"`` adapter. Returns it and
    {"init": what was given, "training": the files' training records}."""
    files = [init] if isinstance(init, (str, Path)) else list(init)
    if not 1 <= len(files) <= 2:
        raise ValueError(f"init is one style adapter file, or a decoupled and a joint one; got {len(files)} files")
    loaded = [load_style_adapter(f, net, same_base=False) for f in files]
    record = {"init": ", ".join(str(f) for f in files)}
    if len(loaded) == 1:
        return loaded[0][0], {**record, "training": loaded[0][1].get("training", {})}
    by_kind = {a.attention: (a, m) for a, m in loaded}
    if set(by_kind) != {"decoupled", "joint"}:
        raise ValueError(f"two init files must be a decoupled and a joint style adapter, got "
                         f"{' and '.join(a.attention for a, _ in loaded)}")
    adapter = StyleAdapter.both(net, by_kind["decoupled"][0], by_kind["joint"][0])
    return adapter, {**record, "training": {k: m.get("training", {}) for k, (_, m) in by_kind.items()}}


@trainer
def train_style_adapter(
    pipeline,
    *,
    out: str | Path,
    styles: Sequence[str] | None = None,
    scenes: int = 8000,
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 5e-4,
    tokens: int = 4,
    attention: str = "decoupled",
    target: str = "data",
    p_uncond: float | None = None,
    warmup: int = 100,
    checkpoint_every: int = 250,
    log_every: int = 50,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    device: str | None = None,
    compile: bool = False,
    precision: str = "fp32",
    init: str | Path | Sequence[str | Path] | None = None,
    style_sigma: float | None = None,
) -> Path:
    """Train a style adapter for ``pipeline`` (a :class:`~difflab.pipelines.text_to_image.TextToImagePipeline`
    or its folder; frozen) on ``scenes`` training scenes in ``styles`` (default: the styles the
    pipeline was trained on, at least two), captioned without their style, each with a reference
    drawn from the other scenes of its style. ``tokens``: the reference's tokens; ``attention``:
    how they reach the network, "decoupled" (IP-Adapter's cross-attention of their own), "joint"
    (in the text's own cross-attention) or "both" (:mod:`difflab.nets.style_adapter`). ``target``: "data"
    (the denoising loss) or "style-word" (the pipeline's own prediction for the caption naming the
    style; needs styles the pipeline was trained on; module docstring). ``p_uncond``: how often the
    caption is dropped (default 0.1 for "data"; 0, and only 0, for "style-word", whose teacher
    needs the caption).
    ``out``: the run folder (checkpoint, log, loss curve;
    ``resume`` continues it); the adapter is written to ``out/style_adapter.safetensors`` at
    every checkpoint. ``init``: start from the weights of this adapter file, trained on this
    pipeline's network or an earlier state of it (a base fine-tuned further changes the
    fingerprint an adapter is checked against, and the adapter has to follow it); its
    ``tokens`` and ``attention`` replace the arguments. Two files, a decoupled and a joint
    adapter, start an ``attention="both"`` adapter as their sum (:meth:`StyleAdapter.both`). ``style_sigma``: train only at noise
    levels sigma <= style_sigma, where a reference acts by default
    (:data:`~difflab.pipelines.text_to_image.REFERENCE_STYLE_SIGMA`; :class:`LateTimes`); None:
    every level. The rest as every trainer's
    (:func:`difflab.train.fit`). Returns the adapter file's path."""
    from ..data.shapes import TRAIN_SEED, check_styles, make_scene, to_tensor
    from ..train.loop import fit
    from .data import encode_captions, render_scenes
    from ..nets.lora import fingerprint
    from .text_to_image import TextToImagePipeline

    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}")
    if p_uncond is None:
        p_uncond = 0.1 if target == "data" else 0.0
    if not 0 <= p_uncond < 1:
        raise ValueError(f"p_uncond must be in [0, 1), got {p_uncond}")
    if style_sigma is not None and not float(style_sigma) > 0:  # before any scene is rendered
        raise ValueError(f"style_sigma must be a noise level > 0, got {style_sigma}")
    if target == "style-word" and p_uncond:
        raise ValueError(f"target 'style-word' keeps every caption (its teacher reads it): p_uncond must be 0, "
                         f"got {p_uncond}")
    pipe = pipeline if isinstance(pipeline, TextToImagePipeline) else TextToImagePipeline.load(pipeline)
    if device is not None:
        pipe.to(device)
    styles = check_styles(styles if styles is not None else (pipe.trained_styles or ()))
    if len(styles) < 2:
        raise ValueError(f"a style adapter learns to tell styles apart: give two or more styles, got {list(styles)}")
    unnamed = [s for s in styles if s not in (pipe.trained_styles or ())]
    if target == "style-word" and unnamed:
        raise ValueError(f"target 'style-word' needs styles the pipeline was trained to name; it was not trained "
                         f"on {unnamed} (its styles: {list(pipe.trained_styles or ())})")
    if isinstance(scenes, bool) or not isinstance(scenes, int) or scenes < 2 * len(styles):
        raise ValueError(f"scenes must be an integer of at least {2 * len(styles)}, got {scenes!r}")
    out = Path(out)
    size = pipe.config["image_size"]
    net = pipe.denoiser.net
    base = fingerprint(net)
    torch.manual_seed(seed)
    if init is not None:
        adapter, init_meta = initial_adapter(init, net)
        adapter.train()
        tokens, attention = adapter.config["tokens"], adapter.config.get("attention", "decoupled")
    else:
        adapter = StyleAdapter(net, tokens, attention=attention).to(pipe.device)

    # the pool: every scene's latents, its content-only caption, its style; references are other scenes' pixels
    images, _ = render_scenes(range(scenes), size, TRAIN_SEED, workers, styles=styles)
    styled = [make_scene(TRAIN_SEED, i, styles) for i in range(scenes)]
    scene_style = np.array([scene.style for scene in styled])
    captions = [make_scene(TRAIN_SEED, i).caption for i in range(scenes)]  # the same content, no style word

    def pixels(index) -> torch.Tensor:  # scenes of the pool, (N, 3, S, S) in [-1, 1]
        return to_tensor(images[np.asarray(index)])

    with torch.no_grad():
        latents = torch.cat([pipe.autoencoder.encode_latents(pixels(range(i, min(i + 256, scenes))).to(pipe.device),
                                                             mode=True).cpu() for i in range(0, scenes, 256)])

    def encoded(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens, mask) of the distinct ``texts``, encoded once, and each text's row in them."""
        distinct = sorted(set(texts))
        rows = {c: k for k, c in enumerate(distinct)}
        return (*encode_captions(pipe.text_encoder, distinct, progress=False), torch.tensor([rows[c] for c in texts]))

    text_tokens, text_mask, row = encoded(captions)
    # the teacher's captions name each scene's style
    named = encoded([scene.caption for scene in styled]) if target == "style-word" else None
    # scenes grouped by style: a reference is one of the other scenes of the target's style
    style_of = torch.tensor([styles.index(s) for s in scene_style])
    pools = [torch.from_numpy(np.flatnonzero(scene_style == s)) for s in styles]
    if min(len(p) for p in pools) < 2:
        raise ValueError(f"{scenes} scenes leave a style with fewer than two scenes: give more scenes")
    flat, sizes = torch.cat(pools), torch.tensor([len(p) for p in pools])
    start = torch.cumsum(sizes, 0) - sizes
    position = torch.empty(scenes, dtype=torch.long)
    for p in pools:
        position[p] = torch.arange(len(p))
    null = pipe.null_cond()
    length = text_tokens.shape[1]
    null_cond = {"context": null["context"][:length].float().cpu(), "context_mask": null["context_mask"][:length].cpu()}

    def draw(n: int, g: torch.Generator):
        index = torch.randint(0, scenes, (n,), generator=g)
        s = style_of[index]
        j = (torch.rand(n, generator=g) * (sizes[s] - 1)).long()  # one of the style's other scenes
        ref = flat[start[s] + j + (j >= position[index]).long()]
        r = row[index]
        cond = {"context": text_tokens[r].float(), "context_mask": text_mask[r], "style_image": pixels(ref)}
        if named is not None:
            named_tokens, named_mask, named_row = named
            cond.update({TEACHER + "context": named_tokens[named_row[index]].float(),
                         TEACHER + "context_mask": named_mask[named_row[index]]})
        return latents[index], cond

    model = adapted(pipe.denoiser, adapter)
    requires, mode = {n: p.requires_grad for n, p in net.named_parameters()}, net.training
    net.requires_grad_(False)
    file = out / ADAPTER_FILE
    training = {"styles": list(styles), "scenes": scenes, "attention": attention, "target": target,
                "steps": steps, "batch_size": batch_size, "lr": lr, "p_uncond": p_uncond, "seed": seed,
                "params": sum(p.numel() for p in adapter.parameters()),
                **({"style_sigma": float(style_sigma)} if style_sigma is not None else {}),
                **({"init": init_meta["init"], "init_training": init_meta["training"]} if init is not None else {})}

    def export(step: int, ema) -> None:
        save_style_adapter(file, adapter, base, {**training, "steps_done": step})

    try:
        loss = StyleWordTarget(pipe.denoiser) if named is not None else \
            DenoisingLoss(model, p_uncond=p_uncond, null_cond=null_cond)
        objective = {"loss": loss if style_sigma is None else LateTimes(loss, style_sigma)}
        fit(model, draw, steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, ema_half_life=None,
            weight_decay=0.0, grad_clip=1.0, out=out, **objective,
            checkpoint_every=checkpoint_every, log_every=log_every, resume=resume, on_checkpoint=export, seed=seed,
            progress=progress, config={"style_adapter": {**adapter.config, **training, "steps": None,
                                                          "fingerprint": base}},
            desc="train style adapter", compile=compile, precision=precision)
    finally:
        for n, p in net.named_parameters():
            p.requires_grad_(requires.get(n, p.requires_grad))
        net.train(mode)
    return file

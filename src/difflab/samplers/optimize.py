"""Step grids optimized for one model and one sampler at one budget (issue 17).

A fixed grid rule (trailing, Karras, log-SNR, ``tuned``) spends a sampler's few evaluations
where the rule's author's data needed them. :func:`optimize_grid` instead places them for
*this* model: it solves the probability-flow ODE from a calibration batch of noise once,
finely (the reference), and then moves the grid's inner levels to minimise the mean squared
distance between the sampler's ``steps``-step solution and that reference from the same
noise. This is the local-truncation view of Sabour et al. 2024 ("Align Your Steps"), who
optimize the grid of a given solver for a given model, and of Xue et al. 2024 ("Accelerating
Diffusion Sampling with Optimized Time Steps"), measured end to end rather than bounded: the
quantity minimised is the one a user sees, the sampler's error against the exact ODE map.

The grid keeps the model's sigma_max first (the sampler starts from the prior the model was
trained for) and 0 last. It starts from the sampler's grid rule (or from a grid already stored
for the budget, where that is closer to the reference); the ``steps - 1`` levels between move in log sigma, each between its
neighbours, by a pattern search (one level at a time: four trial positions in a window around
it, the best kept, the window halved where none helps; Kolda, Lewis & Torczon 2003, sec. 3),
which needs no gradient through the network and never leaves the ordered grids.

Where the ODE's own answer is not what is wanted (a model whose 10-step samples score better
than its converged ones, as the MNIST-5k models do: docs/samplers.md), ``objective`` replaces the
distance to the reference by any score of the samples, lower better: a distribution distance to
the model's training data (:func:`difflab.evaluate.images.frechet_objective`) makes the search
that of Watson et al. 2022 ("Learning Fast Samplers for Diffusion Models by Differentiating
Through Sample Quality"), who optimize a sampler for a sample-quality score directly, here by the
same pattern search and the same calibration noise throughout (common random numbers, so that
two grids' scores differ by the grids and not by the draw). Since such a score ranks any grid, the
search then starts from the best of the sampler's rule, the stored grid and the fixed rules
:data:`FIXED_RULES` by that score.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ..tensors import randn
from ..grids import default_spacing
from .registry import DEFAULT_SPACING, SAMPLERS
from .run import model_attribute, sample

__all__ = ["optimize_grid", "GridSearch", "STOCHASTIC", "CALIBRATION_NOISE_SEED"]

#: the calibration noise's first seed (sample i: seed + i) by default: a tuning range above the seeds
#: sampling and the reports draw from by default (0 up to their image limit), so that a grid is not
#: chosen on the noise it is then reported on
CALIBRATION_NOISE_SEED = 200_000

#: the fixed grid rules a search with an objective also starts from, where one scores better than the sampler's rule
FIXED_RULES = ("trailing", "karras", "log-snr")

#: samplers that draw noise at every step: their samples do not follow the ODE map, so the
#: distance to an ODE reference is not their error
STOCHASTIC = ("ddpm", "euler-maruyama", "pc", "langevin", "dpmpp-2m-sde", "dpmpp-3m-sde")


@dataclass
class GridSearch:
    """The result of :func:`optimize_grid`: the grid, the options it was optimized with, its
    error (mean squared distance to the reference per element) and the starting grid's, and the
    cost."""

    sampler: str
    steps: int
    sigmas: torch.Tensor
    options: dict
    error: float
    start_error: float
    start_sigmas: torch.Tensor
    reference_steps: int
    nfe: int
    seconds: float
    history: list = field(default_factory=list)
    #: the multistep order the search ran the sampler at (its default, capped under guidance), None if it has none
    order: int | None = None
    #: what was minimised: "ode" (the distance to the fine solve) or the objective's name
    target: str = "ode"
    #: with a validation batch: {"start": score, "found": score} there, and "kept": "found" or "start"
    validation: dict | None = None

    def to_json(self) -> dict:
        return {"sigmas": self.sigmas.tolist(), "options": self.options, "error": self.error,
                "start_error": self.start_error, "start_sigmas": self.start_sigmas.tolist(),
                "reference_steps": self.reference_steps, "nfe": self.nfe, "seconds": self.seconds,
                "target": self.target, **({"order": self.order} if self.order is not None else {}),
                **({"validation": self.validation} if self.validation is not None else {})}


def optimize_grid(
    model,
    noise: torch.Tensor | tuple,
    sampler: str = "unipc",
    steps: int = 10,
    *,
    cond: dict | None = None,
    seed: int = CALIBRATION_NOISE_SEED,
    reference_steps: int | None = None,
    sweeps: int = 8,
    progress=None,
    objective=None,
    validation: tuple | None = None,
    **options,
) -> GridSearch:
    """The grid of ``steps`` levels on which ``sampler`` best reproduces the ODE solution of
    ``model``, or scores lowest by ``objective`` (see the module docstring).

    Args:
        model: a denoiser as :func:`difflab.sample` takes it (guided, conditioned as it is used).
        noise: the calibration batch: standard normal noise, or its shape (batch, ...), drawn
            from ``seed``.
        sampler: a deterministic sampler's name (not one of :data:`STOCHASTIC`).
        steps: the budget the grid is for (at least 2: one step has nothing to place).
        cond: conditions for the batch (labels, text), drawn as the model is used.
        reference_steps: steps of the reference solve (UniPC on the model's default grid);
            default ``max(200, 20 * steps)``.
        sweeps: passes over the levels; each costs at most ``4 (steps - 1)`` runs of ``steps``
            evaluations.
        progress: called as ``progress(sweep, error)`` after each sweep.
        objective: None (the distance to the reference solve), or a function of the samples
            (the ``steps``-step solution from the calibration noise) returning a score, lower
            better; its ``name`` attribute, where it has one, is stored as the result's ``target``.
            No reference is solved then (``reference_steps`` is 0 in the result).
        validation: with ``objective``, None or ``(noise, cond, score)``: a second batch (other
            noise, and other conditions where ``score`` reads them, e.g. other prompts) on which the
            grid found must score lower than the grid the search started from, else the start is
            returned (``result.validation["kept"] == "start"``). A pattern search over a noisy score
            accepts the noise of its own batch as readily as signal (docs/samplers.md); a grid that
            wins only there is not kept.
        **options: the sampler's own options; UniPC's ``sigma_data`` defaults to the one the
            model's default grid uses, as in :func:`difflab.sample`.

    Returns:
        a :class:`GridSearch`; ``result.sigmas`` goes to ``sample(..., sigmas=)`` with
        ``**result.options``, or into the model's ``grids`` (:func:`difflab.io.save_grids`).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of: {', '.join(sorted(SAMPLERS))}")
    if validation is not None and objective is None:
        raise ValueError("validation needs an objective: the ODE distance has a reference for the calibration batch only")
    if sampler in STOCHASTIC:
        raise ValueError(f"sampler {sampler!r} draws noise at every step: a grid is optimized against the ODE map, "
                         "so choose a deterministic sampler")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2 (one step has no level to place), got {steps!r}")
    if not isinstance(sweeps, int) or sweeps < 1:
        raise ValueError(f"sweeps must be a positive integer, got {sweeps!r}")
    start = time.perf_counter()
    if not isinstance(noise, torch.Tensor):
        noise = randn(tuple(noise), seed)
    if objective is None:
        reference_steps = reference_steps or max(200, 20 * steps)
        reference, ref_info = sample(model, noise, "unipc", reference_steps, cond=cond, return_info=True)
        nfe = ref_info.nfe
        if "sigma_data" in _parameters(sampler) and "sigma_data" not in options and ref_info.sigma_data is not None:
            options["sigma_data"] = ref_info.sigma_data

        def score(x: torch.Tensor) -> float:
            return _distance(x, reference)
    else:
        reference_steps, nfe = 0, 0

        def score(x: torch.Tensor) -> float:
            e = float(objective(x))
            return e if math.isfinite(e) else math.inf
    # start from the sampler's grid rule, or from the grid stored for this budget where that is closer
    # (with an objective: or from a fixed rule that scores better)
    first, info = sample(model, noise, sampler, steps, cond=cond, return_info=True, spacing=_rule(model, sampler),
                         **options)
    nfe += info.nfe
    if "sigma_data" in _parameters(sampler) and "sigma_data" not in options and info.sigma_data is not None:
        options["sigma_data"] = info.sigma_data  # (with an objective) the one the rule's run read
    first_score = score(first)
    starts = [{}] if (sampler, steps) in (model_attribute(model, "grids") or {}) else []
    if objective is not None:  # a score of the samples ranks any grid: start from the best fixed rule too
        starts += [{"spacing": rule} for rule in FIXED_RULES if rule != _rule(model, sampler)]
    for start_grid in starts:
        other, other_info = sample(model, noise, sampler, steps, cond=cond, return_info=True, **start_grid, **options)
        nfe += other_info.nfe
        other_score = score(other)
        if other_score < first_score:
            first, info, first_score = other, other_info, other_score
    start_sigmas = info.sigmas
    schedule = model.schedule
    floor = math.log(float(schedule.ve_sigma_min))
    top = math.log(float(start_sigmas[0]))

    def grid(levels: list[float]) -> torch.Tensor:
        return torch.tensor([math.exp(top), *[math.exp(v) for v in levels], 0.0], dtype=torch.float64)

    def error(levels: list[float]) -> float:
        nonlocal nfe
        x, run = sample(model, noise, sampler, steps, sigmas=grid(levels), cond=cond, return_info=True, **options)
        nfe += run.nfe
        return score(x)

    levels = [math.log(float(v)) for v in start_sigmas[1:-1]]
    u = [min(max(v, floor), top) for v in levels]
    if u != levels:  # the search starts from the grid moved up to sigma_min: the start its score is of
        start_sigmas = grid(u)
    # the default run's own error, unless its grid reached below sigma_min and was moved up
    best = first_score if u == levels else error(u)
    best = best if math.isfinite(best) else math.inf
    start_error = best
    history = [best]
    # each level's search window (in log sigma): at first the log-distance to its farther neighbour
    bounds = [top, *u, floor]
    width = [max(bounds[i] - bounds[i + 1], bounds[i + 1] - bounds[i + 2]) for i in range(len(u))]
    for sweep in range(sweeps):
        for i in range(len(u)):
            hi = u[i - 1] if i > 0 else top
            lo = u[i + 1] if i + 1 < len(u) else floor
            moved = False
            for offset in (-1.0, -0.5, 0.5, 1.0):
                # stay strictly between the neighbours (a twentieth of the gap to each at least)
                trial = min(max(u[i] + offset * width[i], lo + 0.05 * (u[i] - lo)), hi - 0.05 * (hi - u[i]))
                if trial == u[i]:
                    continue
                candidate = u[:i] + [trial] + u[i + 1:]
                e = error(candidate)
                if e < best:
                    best, u, moved = e, candidate, True
            if not moved:
                width[i] *= 0.5
        history.append(best)
        if progress is not None:
            progress(sweep, best)
    sigmas = grid(u)
    checked = None
    if validation is not None:
        v_noise, v_cond, v_score = validation
        scores = {}
        for name, candidate in (("start", start_sigmas), ("found", sigmas)):
            x, run = sample(model, v_noise, sampler, steps, sigmas=candidate, cond=v_cond, return_info=True, **options)
            nfe += run.nfe
            e = float(v_score(x))
            scores[name] = e if math.isfinite(e) else math.inf
        checked = {**scores, "kept": "found" if scores["found"] < scores["start"] else "start"}
        if checked["kept"] == "start":
            sigmas, best = start_sigmas.clone(), start_error
    return GridSearch(sampler=sampler, steps=steps, sigmas=sigmas, options=dict(options), error=best,
                      start_error=start_error, start_sigmas=start_sigmas, reference_steps=reference_steps, nfe=nfe,
                      seconds=time.perf_counter() - start, history=history, order=info.order,
                      target="ode" if objective is None else getattr(objective, "name", "objective"),
                      validation=checked)


def _distance(x: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean squared distance per element (inf where not finite)."""
    e = float(((x - reference).to(torch.float64) ** 2).mean())
    return e if math.isfinite(e) else math.inf


def _rule(model, sampler: str) -> str:
    """The grid rule ``sample`` falls back to for ``sampler`` when no grid is stored."""
    return DEFAULT_SPACING.get(sampler) or default_spacing(model.schedule)


def _parameters(sampler: str):
    import inspect

    return inspect.signature(SAMPLERS[sampler]).parameters

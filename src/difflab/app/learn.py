"""What the web app's Learn tab shows, without the web: the forward process of an image (the
closed form beside the step-by-step chain), the reverse trajectory of a sample, samplers
side by side at equal NFE, a 2-D playground (train for a few seconds, then sample, with the
score field), and live answers to the course's three check-yourself questions.

Every picture is an array (uint8 images) or a matplotlib figure; nothing here imports Gradio.
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np
import torch

__all__ = ["FORWARD_T", "forward_views", "reverse_trajectory", "compare_samplers", "train_playground",
           "playground_samples", "QUESTIONS"]

#: the forward process's table: DDPM's linear betas, 1e-4 to 0.02, T = 1000 (Ho et al. 2020, sec. 4)
FORWARD_T = 1000


def _schedule():
    from ..schedules import DiscreteSchedule

    return DiscreteSchedule(kind="linear", T=FORWARD_T)


def forward_views(image: np.ndarray, step: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """x_t of ``image`` (uint8 (H, W, 3)) at DDPM step ``step`` (1 .. 1000) two ways: the closed
    form q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) (Ho et al. 2020, eq. 4)
    and the chain of ``step`` one-step transitions q(x_s | x_(s-1)) = N(sqrt(1 - beta_s)
    x_(s-1), beta_s I) (eq. 2). Both are draws of the same distribution (not the same draw);
    returns (closed form, chain, numbers: alpha_bar_t, the signal and noise scales)."""
    from ..processes import q_sample, transition

    if not 1 <= int(step) <= FORWARD_T:
        raise ValueError(f"the step must be from 1 to {FORWARD_T}, got {step}")
    step = int(step)
    schedule = _schedule()
    x0 = torch.from_numpy(np.asarray(image, dtype=np.float64) / 127.5 - 1).permute(2, 0, 1)[None]
    g = torch.Generator().manual_seed(int(seed))
    t = torch.tensor(step / FORWARD_T, dtype=torch.float64)
    closed = q_sample(schedule, x0, t, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    x = x0
    for s in range(1, step + 1):
        mean, std = transition(schedule, x, torch.tensor((s - 1) / FORWARD_T, dtype=torch.float64),
                               torch.tensor(s / FORWARD_T, dtype=torch.float64))
        x = mean + std * torch.randn(x.shape, generator=g, dtype=torch.float64)
    alpha = float(schedule.alpha(t))
    numbers = {"step": step, "alpha_bar": alpha**2, "signal_scale": alpha, "noise_scale": float(schedule.sigma(t))}
    return _pixels(closed), _pixels(x), numbers


def _pixels(x: torch.Tensor) -> np.ndarray:
    return ((x[0].permute(1, 2, 0).float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def reverse_trajectory(pipe, prompt: str, seed: int = 0, steps: int = 10, guidance: float = 3.0,
                       sampler: str = "ddim") -> tuple[np.ndarray, list[float]]:
    """One sample's reverse process with a text-to-image pipeline: a picture with the decoded
    x_t (top row) and x0-hat, the network's clean estimate (bottom row), at every step; and
    the noise levels sigma_t."""
    from ..data.shapes import to_uint8

    states = []
    pipe.latents([prompt], seed=seed, steps=steps, guidance=guidance, sampler=sampler,
                 callback=lambda d: states.append((float(d["sigma"]), d["x"].clone(), d["x0"].clone())))
    top = np.concatenate([to_uint8(pipe.decode(x))[0] for _, x, _ in states], axis=1)
    bottom = np.concatenate([to_uint8(pipe.decode(x0))[0] for _, _, x0 in states], axis=1)
    return np.concatenate([top, bottom], axis=0), [s for s, _, _ in states]


def compare_samplers(pipe, prompt: str, samplers, nfe: int = 10, seed: int = 0,
                     guidance: float = 3.0) -> list[tuple[np.ndarray, str]]:
    """The same prompt and initial noise through each sampler at ``nfe`` network evaluations
    (a second-order sampler such as heun gets half as many steps)."""
    from ..samplers.registry import SAMPLERS

    unknown = [name for name in samplers if name not in SAMPLERS]
    if unknown or not samplers:
        raise ValueError(f"choose samplers among {', '.join(SAMPLERS)}; got {list(samplers)}")
    out = []
    for name in samplers:
        steps = max(1, nfe // 2) if name == "heun" else nfe
        image = pipe([prompt], seed=seed, sampler=name, steps=steps, guidance=guidance)[0]
        out.append((image, f"{name}, {steps} steps"))
    return out


# ------------------------------------------------------------------ the 2-D playground


def train_playground(data: str = "moons", seconds: float = 10.0, seed: int = 0,
                     report_every: float = 0.5) -> Iterator[tuple[list[float], object]]:
    """Train a small MLP denoiser (eps prediction, DDPM linear table, the simple loss of Ho
    et al. 2020, eq. 14) on a 2-D toy set for ``seconds``; yields (loss history, denoiser)
    every ``report_every`` seconds and at the end."""
    from ..data.toy import toy_dataset
    from ..denoiser import Denoiser
    from ..losses import denoising_loss
    from ..nets import MLP
    from ..schedules import DiscreteSchedule

    if not 0 < float(seconds) <= 120:
        raise ValueError(f"train for 0 to 120 seconds, got {seconds}")
    draw = toy_dataset(data)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    denoiser = Denoiser(MLP(dim=2, width=128, depth=3), DiscreteSchedule(kind="linear", T=1000), "eps", "index")
    opt = torch.optim.AdamW(denoiser.net.parameters(), lr=3e-3)
    history, start, last = [], time.perf_counter(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        x0 = draw(256, g).float()
        loss = denoising_loss(denoiser, x0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
        if time.perf_counter() - last >= report_every:
            last = time.perf_counter()
            yield history, denoiser
    yield history, denoiser


def playground_samples(denoiser, samplers, n: int = 500, steps: int = 20, seed: int = 0,
                       trajectories: bool = False) -> dict:
    """Samples of the playground's denoiser with each sampler (same noise): name -> (n, 2);
    with ``trajectories``, name -> the points after each step, a list of (n, 2) (the last is
    the sample), for watching them move. Points are in data coordinates."""
    from ..samplers import sample

    out = {}
    with torch.no_grad():
        for name in samplers:
            states = []
            x = sample(denoiser, (n, 2), name, steps, generator=seed,
                       callback=(lambda d: states.append(d["x"].float().clone())) if trajectories else None)
            out[name] = [*states[:-1], x.float()] if trajectories else x.float()
    return out


def playground_figure(history, data: str, samples: dict | None = None, denoiser=None):
    """The loss curve, and (with samples) each sampler's points over the data, with the learned
    score field at a small noise level drawn as arrows (its direction: toward more data)."""
    from ..data.toy import toy_dataset
    from ..viz._figure import pyplot

    plt = pyplot()
    panels = 1 + (len(samples) if samples else 0)
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3.2), squeeze=False)
    ax = axes[0, 0]
    ax.plot(history, lw=0.6)
    if len(history) > 20:
        k = max(1, len(history) // 20)
        smooth = np.convolve(history, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(len(smooth)) + k - 1, smooth, lw=1.5)
    ax.set_title(f"training loss ({len(history)} steps)")
    ax.set_yscale("log")
    if samples:
        data_points = toy_dataset(data)(1000, torch.Generator().manual_seed(1)).float()
        lim = float(data_points.abs().max()) * 1.2
        ticks = torch.linspace(-lim, lim, 15)
        gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
        xy = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
        score = None
        if denoiser is not None:
            sigma = 0.3 * float(data_points.std())
            with torch.no_grad():
                x0 = denoiser(xy, torch.full((len(xy),), sigma, dtype=torch.float64)).float()
            score = (x0 - xy) / sigma**2  # Tweedie: grad log p(x; sigma) = (D(x; sigma) - x) / sigma^2
            score = score / score.norm(dim=1, keepdim=True).clamp_min(1e-8)
        for ax, (name, pts) in zip(axes[0, 1:], samples.items()):
            ax.scatter(data_points[:, 0], data_points[:, 1], s=2, c="0.8")
            if score is not None:
                ax.quiver(xy[:, 0], xy[:, 1], score[:, 0], score[:, 1], color="tab:blue", alpha=0.5, width=0.004)
            ax.scatter(pts[:, 0], pts[:, 1], s=3, c="tab:red")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_title(name)
            ax.set_aspect("equal")
    fig.tight_layout()
    plt.close(fig)  # out of pyplot's registry (no leak over many frames); it still draws
    return fig


#: the course's three check-yourself questions, each answered by a demonstration in the page
QUESTIONS = [
    ("What is the main idea of diffusion models?",
     "Destroy data slowly with noise (the forward process, fixed), and learn to undo one small step at a time "
     "(the reverse process, a network). Generation starts from pure noise and denoises step by step. The "
     "demonstration runs a real reverse process: the top row is x_t, the bottom row the network's guess of the "
     "clean image at that step."),
    ("What does the DDPM forward process use to add noise at each step?",
     "Gaussian noise scaled by a variance schedule beta_t: q(x_t | x_(t-1)) = N(sqrt(1 - beta_t) x_(t-1), "
     "beta_t I). Composed, it has a closed form: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps. The "
     "demonstration draws both from the same image: the closed form and the chain of t steps agree in "
     "distribution."),
    ("What is the role of the score function?",
     "The score grad_x log p_t(x) points toward where data are more likely at noise level t. A denoiser gives it "
     "(Tweedie: (D(x; sigma) - x) / sigma^2), and Langevin dynamics or the reverse SDE follow it from noise to "
     "data. The demonstration trains a 2-D model for a few seconds and draws its score field as arrows over the "
     "points its samplers produce."),
]

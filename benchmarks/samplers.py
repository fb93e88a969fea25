"""Fast samplers against diffusers and k-diffusion, on exact Gaussian mixtures (issue 5).

Every sampler sees the same perfect model: the closed-form denoiser of a Gaussian
mixture (:class:`difflab.models.GaussianMixture`) under DDPM's linear schedule with
T = 1000. difflab's samplers call it as D(x; sigma); diffusers' schedulers get the
eps-prediction of the same oracle at their (discrete) timestep; k-diffusion's samplers
get it through a wrapper that, like k-diffusion's own ``DiscreteEpsDDPMDenoiser``, maps
sigma to a (fractional) DDPM timestep and asks the eps-model there. So the only
differences left are the samplers and their grids.

Error: sliced Wasserstein-2 (fixed projections) between N samples and a fresh true draw
of N, over the noise floor (SW2 between two true draws of N, averaged over 8 pairs),
means over seeds. 1.0 is a perfect sampler; a fresh true draw's own score is printed
and stored as the metric's noise band. Every sampler gets the same starting noise and the same reference
draw per seed (common random numbers), so differences between samplers are not noise.
NFE counts every network evaluation (Heun's two per step).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/samplers.py            # full run
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/samplers.py --quick    # smoke test
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/samplers.py --sweep    # difflab grids
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/samplers.py --overhead # per-step overhead only

Peers are benchmark-only dependencies, never difflab requirements:

    pip install --no-deps diffusers k-diffusion torchdiffeq torchsde trampoline
    (or: pip install -e ".[bench]" where the environment has their dependencies)

k-diffusion's package imports torchvision at the top; only its ``sampling`` module is
loaded here (with a stub for the image-only imports), see :func:`load_k_diffusion`.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import math
import os
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

import difflab  # noqa: E402
from difflab.grids import SPACINGS  # noqa: E402
from difflab.models import GaussianMixture, eight_gaussians  # noqa: E402
from difflab.schedules import DiscreteSchedule  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEDULE = DiscreteSchedule("linear", 1000)
NFES = (5, 10, 20, 50, 100)
FLOOR_PAIRS = 8
F64 = torch.float64


# ------------------------------------------------------------------------------------
# the problems
# ------------------------------------------------------------------------------------


def anisotropic_mixture() -> GaussianMixture:
    """2-D: six thin components (std 0.3-0.6 along, 0.015-0.04 across), weights 0.40 .. 0.04."""
    g = torch.Generator().manual_seed(1)
    angles = torch.rand(6, generator=g, dtype=F64) * math.pi
    means = torch.tensor([[-1.5, -1.0], [1.2, 1.4], [1.6, -1.3], [-1.2, 1.5], [0.0, 0.1], [0.2, -2.0]], dtype=F64)
    along = torch.tensor([0.6, 0.5, 0.45, 0.4, 0.35, 0.3], dtype=F64)
    across = torch.tensor([0.03, 0.02, 0.04, 0.015, 0.03, 0.02], dtype=F64)
    c, s = torch.cos(angles), torch.sin(angles)
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    cov = rot @ torch.diag_embed(torch.stack([along**2, across**2], -1)) @ rot.transpose(1, 2)
    return GaussianMixture([0.40, 0.24, 0.15, 0.10, 0.07, 0.04], means, cov)


def mixture_64d() -> GaussianMixture:
    """64-D: ten components, random weights, means uniform in [-0.8, 0.8]^64, per-axis std 0.05-0.3."""
    g = torch.Generator().manual_seed(2)
    weights = torch.rand(10, generator=g, dtype=F64) + 0.2
    means = (torch.rand(10, 64, generator=g, dtype=F64) * 2 - 1) * 0.8
    std = 0.05 + 0.25 * torch.rand(10, 64, generator=g, dtype=F64)
    return GaussianMixture(weights, means, std**2)


#: name -> (mixture, samples per seed, SW projections)
PROBLEMS = {
    "8-mode": (eight_gaussians, 20_000, 64),
    "anisotropic": (anisotropic_mixture, 20_000, 64),
    "64-d": (mixture_64d, 4_000, 256),
}


class Problem:
    """One mixture: its oracle, the seeds' noise and reference draws, the noise floor."""

    def __init__(self, name: str, seeds, n: int | None = None, *, mix: GaussianMixture | None = None, n_proj: int = 256):
        if mix is None:
            build, n_default, n_proj = PROBLEMS[name]
            mix = build()
        else:
            n_default = 4_000
        self.name, self.mix, self.n, self.seeds = name, mix, n or n_default, list(seeds)
        g = torch.Generator().manual_seed(0)
        theta = torch.randn(self.mix.dim, n_proj, generator=g, dtype=F64)
        self.theta = theta / theta.norm(dim=0, keepdim=True)
        self.noise = {s: torch.randn(self.n, self.mix.dim, generator=torch.Generator().manual_seed(1000 + s), dtype=F64)
                      for s in self.seeds}
        self.refs = {s: self._sorted(self.mix.sample(self.n, 3000 + s)) for s in self.seeds}
        # SW2 between two true draws is itself noisy (one pair can be off by 30%): average 8 independent pairs
        self.floor = sum(self.sw(self.mix.sample(self.n, 4000 + i), self._sorted(self.mix.sample(self.n, 5000 + i)))
                         for i in range(FLOOR_PAIRS)) / FLOOR_PAIRS
        # what a perfect sampler scores against the same references: a fresh true draw per seed
        # (its spread over seeds is the metric's own noise)
        self.true_draw = [self.sw(self.mix.sample(self.n, 6000 + s), self.refs[s]) / self.floor for s in self.seeds]

    def _sorted(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sort((x.reshape(len(x), -1).to(F64) @ self.theta).T.contiguous(), dim=1).values

    def sw(self, x: torch.Tensor, ref_sorted: torch.Tensor) -> float:
        """Sliced W2 against sorted reference projections; equals difflab.metrics.sliced_wasserstein
        with these directions (the reference is sorted once per seed, not once per sampler)."""
        x = torch.as_tensor(x).to(F64)
        if not torch.isfinite(x).all():
            return float("inf")
        return float(((self._sorted(x) - ref_sorted) ** 2).mean().sqrt())

    def error(self, run) -> dict:
        """run(oracle, noise, seed) -> samples. Mean SW2 over seeds / mean floor, and the NFE."""
        errs, nfe = [], 0
        for s in self.seeds:
            oracle = Oracle(self.mix)
            errs.append(self.sw(run(oracle, self.noise[s], s), self.refs[s]))
            nfe = oracle.nfe
        return {"ratio": sum(errs) / len(errs) / self.floor, "nfe": nfe, "sw": errs}


class Oracle:
    """The exact denoiser D(x; sigma) = E[x0 | x0 + sigma eps = x] of the mixture, counting calls.

    ``schedule`` makes it a difflab model; it equals ``mix.denoiser(SCHEDULE)`` (checked at start)
    and takes the scalar sigma every sampler here passes. Diagonal mixtures use matrix products
    (:func:`posterior_mean_diagonal`), the others the mixture's own ``posterior_mean``."""

    schedule = SCHEDULE

    def __init__(self, mix: GaussianMixture):
        self.mix, self.nfe = mix, 0
        self.diagonal = mix._diagonal

    def posterior_mean(self, x_t, a: float, s: float):
        if self.diagonal:
            return posterior_mean_diagonal(self.mix, x_t, a, s)
        return self.mix.posterior_mean(x_t, a, s)

    def __call__(self, x, sigma, **cond):
        self.nfe += 1
        s = float(torch.as_tensor(sigma).reshape(-1)[0])
        a = 1.0 / math.sqrt(1.0 + s * s)
        return self.posterior_mean(x * a, a, s * a)

    # the discrete eps-model a DDPM network is: eps(x_t, timestep), timestep 0 .. 999 (fractional
    # timesteps interpolate log sigma between table entries, as difflab's DiscreteSchedule does)
    def eps(self, x_t, timestep):
        s = float(SCHEDULE.ve_sigma(SCHEDULE.t_from_index(torch.as_tensor(float(timestep), dtype=F64))))
        a = 1.0 / math.sqrt(1.0 + s * s)
        self.nfe += 1
        x0 = self.posterior_mean(x_t, a, s * a)
        return (x_t - a * x0) / (s * a)


def posterior_mean_diagonal(mix: GaussianMixture, x_t: torch.Tensor, a: float, s: float) -> torch.Tensor:
    """E[x0 | x_t] for a mixture with diagonal covariances diag(l_k), written with matrix products:
    var_k = a^2 l_k + s^2, log w_k N_k(x) = -1/2 sum_d (x_d - a mu_kd)^2 / var_kd + c_k and
    E[x0 | x_t] = sum_k r_k (mu_k + a l_k / var_k (x - a mu_k)). Same numbers as mix.posterior_mean."""
    shape, x = x_t.shape, x_t.reshape(len(x_t), -1).to(F64)
    lam, mu = mix._lam, mix.means
    inv = 1.0 / (a * a * lam + s * s)  # (K, D)
    const = torch.log(mix.weights) - 0.5 * (torch.log(inv).neg().sum(1) + (a * a * mu * mu * inv).sum(1))
    logits = -0.5 * (x * x) @ inv.T + a * x @ (mu * inv).T + const
    r = torch.softmax(logits, dim=1)  # (N, K)
    gain = a * lam * inv  # (K, D)
    out = r @ mu + (r @ gain) * x - a * (r @ (gain * mu))
    return out.reshape(shape).to(x_t.dtype)


def check_oracle() -> None:
    """The benchmark's oracle is the library's exact denoiser: D(x; sigma) and the eps-model agree
    with ``mix.denoiser(SCHEDULE)`` on every mixture."""
    for build, _, _ in PROBLEMS.values():
        mix = build()
        x = torch.randn(64, mix.dim, generator=torch.Generator().manual_seed(0), dtype=F64)
        ref = mix.denoiser(SCHEDULE)
        for s in (150.0, 3.0, 0.05, float(SCHEDULE.ve_sigma_min)):
            torch.testing.assert_close(Oracle(mix)(x * s, s), ref(x * s, s), rtol=1e-7, atol=1e-7)
        for index in (999, 500, 0):
            torch.testing.assert_close(Oracle(mix).eps(x, index), ref.eps(x, SCHEDULE.t_from_index(index)), rtol=1e-7, atol=1e-7)


# ------------------------------------------------------------------------------------
# difflab
# ------------------------------------------------------------------------------------


def heun_steps(nfe: int) -> int:
    """Steps of a 2-evaluations-per-step method (1 on the last) within an NFE budget: 2n - 1 <= nfe."""
    return (nfe + 1) // 2


def difflab_run(sampler: str, steps_of=lambda nfe: nfe, spacing=None, **options):
    def make(nfe):
        def run(oracle, noise, seed):
            g = torch.Generator().manual_seed(2000 + seed)  # one stream for the batch (per-sample streams are slow at N = 20000)
            return difflab.sample(oracle, noise, sampler, steps_of(nfe), spacing=spacing, generator=g, **options)
        return run
    return make


#: label -> run(nfe) factory; every sampler on its documented default grid
#: (difflab.samplers.DEFAULT_SPACING: "tuned" for the multistep solvers, else DDPM "trailing")
DIFFLAB = {
    "ddpm": difflab_run("ddpm"),
    "ddim": difflab_run("ddim"),
    "euler": difflab_run("euler"),
    "euler churn=1": difflab_run("euler", churn=1.0),
    "heun": difflab_run("heun", heun_steps),
    "euler-maruyama": difflab_run("euler-maruyama"),
    "dpmpp-2m": difflab_run("dpmpp-2m"),
    "dpmpp-2m-sde": difflab_run("dpmpp-2m-sde"),
    "deis order=3": difflab_run("deis", order=3),
    "unipc": difflab_run("unipc"),
    "unipc sigma_data=None": difflab_run("unipc", sigma_data=None),
    "lms": difflab_run("lms"),
}


# ------------------------------------------------------------------------------------
# diffusers
# ------------------------------------------------------------------------------------


def diffusers_run(cls_name: str, steps_of=lambda nfe: nfe, **config):
    def make(nfe):
        def run(oracle, noise, seed):
            import diffusers

            sch = getattr(diffusers, cls_name)(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                                               beta_schedule="linear", **config)
            sch.set_timesteps(steps_of(nfe))
            g = torch.Generator().manual_seed(2000 + seed)
            extra = {"generator": g} if "generator" in inspect.signature(sch.step).parameters else {}
            x = noise * sch.init_noise_sigma
            for t in sch.timesteps:
                eps = oracle.eps(sch.scale_model_input(x, t), t)
                x = sch.step(eps, t, x, **extra).prev_sample
            return x
        return run
    return make


#: each scheduler with its defaults and with the settings its docs recommend; DDPM and DDIM
#: with clip_sample=False (their default clips x0 to [-1, 1], and the 2-D mixtures reach 2.6)
DIFFUSERS = {
    "DDPM": diffusers_run("DDPMScheduler", clip_sample=False),
    "DDIM": diffusers_run("DDIMScheduler", clip_sample=False),
    "DDIM trailing": diffusers_run("DDIMScheduler", clip_sample=False, timestep_spacing="trailing"),
    "DPMSolverMultistep": diffusers_run("DPMSolverMultistepScheduler"),
    "DPMSolverMultistep karras": diffusers_run("DPMSolverMultistepScheduler", use_karras_sigmas=True),
    "DPMSolverMultistep order=3": diffusers_run("DPMSolverMultistepScheduler", solver_order=3),
    "Euler": diffusers_run("EulerDiscreteScheduler"),
    "Euler karras": diffusers_run("EulerDiscreteScheduler", use_karras_sigmas=True),
    "EulerAncestral": diffusers_run("EulerAncestralDiscreteScheduler"),
    "Heun": diffusers_run("HeunDiscreteScheduler", heun_steps),
    "Heun karras": diffusers_run("HeunDiscreteScheduler", heun_steps, use_karras_sigmas=True),
    "UniPC": diffusers_run("UniPCMultistepScheduler"),
    "UniPC order=3": diffusers_run("UniPCMultistepScheduler", solver_order=3),
    # bh1 (recommended below 10 steps) returns NaN on its last step to sigma = 0 (B(h) = h = inf): it ends at sigma_min
    "UniPC bh1": diffusers_run("UniPCMultistepScheduler", solver_type="bh1", final_sigmas_type="sigma_min"),
    "LMS": diffusers_run("LMSDiscreteScheduler"),
    "LMS karras": diffusers_run("LMSDiscreteScheduler", use_karras_sigmas=True),
}


# ------------------------------------------------------------------------------------
# k-diffusion
# ------------------------------------------------------------------------------------


def load_k_diffusion():
    """k_diffusion.sampling without the package's __init__ (which imports torchvision, models,
    training code): its ``utils`` is loaded with empty stand-ins for torchvision's modules,
    which sampling never uses, and the stand-ins are removed again afterwards."""
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None:
        raise ModuleNotFoundError("k-diffusion is not installed: pip install --no-deps k-diffusion torchdiffeq torchsde trampoline")
    root = spec.submodule_search_locations[0]
    stubs = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
    added = [n for n in stubs if n not in sys.modules]
    for n in added:
        sys.modules[n] = types.ModuleType(n)
    pkg = types.ModuleType("k_diffusion")
    pkg.__path__ = [root]
    sys.modules["k_diffusion"] = pkg
    try:
        for name in ("utils", "sampling"):
            s = importlib.util.spec_from_file_location(f"k_diffusion.{name}", f"{root}/{name}.py")
            module = importlib.util.module_from_spec(s)
            sys.modules[s.name] = module
            s.loader.exec_module(module)
            setattr(pkg, name, module)
    finally:
        for n in added:
            sys.modules.pop(n, None)
    return pkg.sampling


class KDiffusionDiscreteEps:
    """What k-diffusion's DiscreteEpsDDPMDenoiser (quantize=False) does for a DDPM eps-model:
    sigma -> fractional timestep (log-sigma interpolation of the table), c_in = 1/sqrt(1 + sigma^2),
    D = x - sigma eps(c_in x, timestep)."""

    def __init__(self, oracle: Oracle):
        self.oracle = oracle
        self.log_sigmas = SCHEDULE._log_sigmas

    def __call__(self, x, sigma, **kwargs):
        s = float(sigma.reshape(-1)[0])
        timestep = float(SCHEDULE.index_from_t(SCHEDULE.t_from_ve_sigma(torch.tensor(s, dtype=F64))))
        return x - s * self.oracle.eps(x / math.sqrt(1 + s * s), timestep)


def kdiff_run(name: str, steps_of=lambda nfe: nfe, **options):
    def make(nfe):
        def run(oracle, noise, seed):
            K = _K()
            sigmas = K.get_sigmas_karras(steps_of(nfe), float(SCHEDULE.ve_sigma_min), float(SCHEDULE.ve_sigma_max)).to(F64)
            torch.manual_seed(2000 + seed)  # k-diffusion draws its noise from the global generator
            x = noise * sigmas[0]
            extra = dict(options)
            if "noise_sampler" in inspect.signature(getattr(K, f"sample_{name}")).parameters:
                # i.i.d. steps (k-diffusion's default_noise_sampler) rather than the default Brownian tree of the
                # SDE samplers: the same law, but the tree takes minutes per run at 4,000 x 64
                extra.setdefault("noise_sampler", K.default_noise_sampler(x))
            return getattr(K, f"sample_{name}")(KDiffusionDiscreteEps(oracle), x, sigmas, disable=True, **extra)
        return run
    return make


_K_MODULE = None


def _K():
    global _K_MODULE
    if _K_MODULE is None:
        _K_MODULE = load_k_diffusion()
    return _K_MODULE


KDIFF = {
    "euler": kdiff_run("euler"),
    "heun": kdiff_run("heun", heun_steps),
    "lms": kdiff_run("lms"),
    "dpmpp_2m": kdiff_run("dpmpp_2m"),
    "dpmpp_2m_sde": kdiff_run("dpmpp_2m_sde"),
    "dpmpp_3m_sde": kdiff_run("dpmpp_3m_sde"),
    "dpmpp_2s_ancestral": kdiff_run("dpmpp_2s_ancestral", heun_steps),
}

LIBRARIES = {"difflab": DIFFLAB, "diffusers": DIFFUSERS, "k-diffusion": KDIFF}


# ------------------------------------------------------------------------------------
# per-step overhead with a trivial model
# ------------------------------------------------------------------------------------

#: difflab sampler -> the diffusers scheduler (and config) of the same method
OVERHEAD_PAIRS = {
    "ddpm": ("DDPMScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpmpp-2m": ("DPMSolverMultistepScheduler", {}),
    "dpmpp-2m-sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    "deis": ("DEISMultistepScheduler", {"solver_order": 3}),
    "unipc": ("UniPCMultistepScheduler", {"solver_order": 3}),
    "lms": ("LMSDiscreteScheduler", {}),
}


def overhead(shape=(1, 4, 32, 32), steps: int = 50, reps: int = 5) -> dict:
    """Seconds per step of each sampler's own work (the model returns zeros), best of ``reps``,
    difflab and diffusers interleaved. Heun: per step of two evaluations, both libraries."""
    import diffusers

    zeros = lambda x, *a, **k: torch.zeros_like(x)  # noqa: E731
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    sigmas = difflab.grids.make_grid(SCHEDULE, steps)
    out = {}
    for name, (cls_name, config) in OVERHEAD_PAIRS.items():
        fn = difflab.SAMPLERS[name]

        def run_difflab():
            fn(zeros, x, sigmas, generator=torch.Generator().manual_seed(0))

        def run_diffusers():
            sch = getattr(diffusers, cls_name)(num_train_timesteps=1000, beta_schedule="linear", **config)
            sch.set_timesteps(steps)
            g = torch.Generator().manual_seed(0)
            extra = {"generator": g} if "generator" in inspect.signature(sch.step).parameters else {}
            y = x
            for t in sch.timesteps:
                y = sch.step(zeros(sch.scale_model_input(y, t)), t, y, **extra).prev_sample

        best = {"difflab": float("inf"), "diffusers": float("inf")}
        for _ in range(reps):
            for lib, f in (("difflab", run_difflab), ("diffusers", run_diffusers)):
                t0 = time.perf_counter()
                with torch.no_grad():
                    f()
                best[lib] = min(best[lib], (time.perf_counter() - t0) / steps)
        out[name] = {"diffusers_scheduler": cls_name, **config, "difflab_s": best["difflab"], "diffusers_s": best["diffusers"],
                     "ratio": best["difflab"] / best["diffusers"]}
        print(f"overhead {name:13s} difflab {best['difflab'] * 1e6:7.1f} us/step   {cls_name} {best['diffusers'] * 1e6:7.1f} us/step"
              f"   ratio {out[name]['ratio']:.2f}", flush=True)
    return out


# ------------------------------------------------------------------------------------
# running and reporting
# ------------------------------------------------------------------------------------


def run_all(problems, libraries, nfes) -> dict:
    results = {}
    t_start = time.time()
    for lib, entries in libraries.items():
        for label, make in entries.items():
            for p in problems:
                t0 = time.time()
                row = {}
                for nfe in nfes:
                    row[str(nfe)] = p.error(make(nfe))
                results.setdefault(p.name, {}).setdefault(lib, {})[label] = row
                cells = " ".join(f"{nfe}:{row[str(nfe)]['ratio']:.2f}" for nfe in nfes)
                print(f"[{time.time() - t_start:6.0f}s] {p.name:11s} {lib:11s} {label:27s} {cells}  ({time.time() - t0:.1f}s)", flush=True)
    return results


def best_of(entries: dict, nfe: int):
    cands = [(row[str(nfe)]["ratio"], label) for label, row in entries.items() if row[str(nfe)]["nfe"] <= nfe]
    return min(cands) if cands else (float("nan"), "-")


def summary_table(results: dict, nfes, true_draw: dict) -> str:
    """Best of each library per mixture and NFE, and what a fresh true draw scores (the metric's noise)."""
    libs = list(next(iter(results.values())))
    lines = ["| mixture | NFE | " + " | ".join(f"best {lib}" for lib in libs) + " | a true draw |",
             "|---|---:|" + "---|" * len(libs) + "---:|"]
    for mix, by_lib in results.items():
        for nfe in nfes:
            cells = []
            for lib in libs:
                r, label = best_of(by_lib[lib], nfe)
                cells.append(f"{r:.2f} ({label})")
            lines.append(f"| {mix} | {nfe} | " + " | ".join(cells) + f" | {sum(true_draw[mix]) / len(true_draw[mix]):.2f} |")
    return "\n".join(lines)


def full_table(results: dict, nfes) -> str:
    out = []
    for mix, by_lib in results.items():
        out += [f"\n**{mix}** (SW2 / noise floor; NFE actually used where it is below the budget)\n",
                "| library | sampler | " + " | ".join(f"NFE {n}" for n in nfes) + " |",
                "|---|---|" + "---:|" * len(nfes)]
        for lib, entries in by_lib.items():
            for label, row in entries.items():
                cells = []
                for n in nfes:
                    c = row[str(n)]
                    cells.append(f"{c['ratio']:.2f}" + (f" ({c['nfe']})" if c["nfe"] != n else ""))
                out.append(f"| {lib} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def adaptive(problems, rtols=(0.2, 0.05, 0.01)) -> dict:
    """difflab's adaptive DPM-Solver-12 at a few tolerances: the NFE it chose and its error."""
    out = {}
    for p in problems:
        for rtol in rtols:
            r = p.error(difflab_run("dpm-adaptive", lambda n: 2, spacing="log-snr", rtol=rtol)(0))
            out.setdefault(p.name, {})[str(rtol)] = r
            print(f"adaptive {p.name:11s} rtol={rtol}: nfe={r['nfe']} ratio={r['ratio']:.2f}", flush=True)
    return out


def plot(results: dict, nfes, path: Path, true_draw: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4.2), squeeze=False)
    styles = {"difflab": ("C0", "o"), "diffusers": ("C1", "s"), "k-diffusion": ("C2", "^")}
    for ax, (mix, by_lib) in zip(axes[0], results.items()):
        for lib, entries in by_lib.items():
            color, marker = styles.get(lib, ("C3", "x"))
            best = [best_of(entries, n)[0] for n in nfes]
            ax.plot(nfes, best, color=color, marker=marker, lw=2, label=f"best of {lib}")
        for label, ls in (("unipc", ":"), ("dpmpp-2m", "-.")):
            if label in by_lib.get("difflab", {}):
                ax.plot(nfes, [by_lib["difflab"][label][str(n)]["ratio"] for n in nfes], color="C0", ls=ls, lw=1, label=f"difflab {label}")
        ax.axhline(1.0, color="k", lw=0.8, ls="--", label="noise floor")
        if true_draw and mix in true_draw:
            ax.axhline(sum(true_draw[mix]) / len(true_draw[mix]), color="0.5", lw=0.8, ls=":", label="a fresh true draw")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(list(nfes), [str(n) for n in nfes])
        ax.set_xlabel("NFE")
        ax.set_ylabel("SW2 / noise floor")
        ax.set_title(mix)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


#: the deterministic samplers of the grid sweep: label -> (sampler, options, steps for an NFE budget)
SWEEP = {
    "ddim": ("ddim", {}, lambda n: n),
    "heun": ("heun", {}, heun_steps),
    "dpmpp-2m": ("dpmpp-2m", {}, lambda n: n),
    "deis order=3": ("deis", {"order": 3}, lambda n: n),
    "unipc": ("unipc", {}, lambda n: n),
    "unipc sigma_data=None": ("unipc", {"sigma_data": None}, lambda n: n),
}


def sweep(problems, nfes) -> dict:
    """Every deterministic difflab sampler on every grid (how the default grids were chosen)."""
    out = {}
    t0 = time.time()
    for label, (name, opts, steps_of) in SWEEP.items():
        for spacing in SPACINGS:
            for p in problems:
                row = {str(n): p.error(difflab_run(name, steps_of, spacing=spacing, **opts)(n)) for n in nfes}
                out.setdefault(p.name, {}).setdefault(label, {})[spacing] = row
                print(f"[{time.time() - t0:6.0f}s] sweep {p.name:11s} {label:22s} {spacing:10s} "
                      + " ".join(f"{n}:{row[str(n)]['ratio']:.2f}" for n in nfes), flush=True)
    return out


def sweep_table(res: dict, nfes) -> str:
    lines = []
    for mix, by_sampler in res.items():
        lines += [f"\n**{mix}** (SW2 / noise floor)\n", "| sampler | grid | " + " | ".join(f"NFE {n}" for n in nfes) + " |",
                  "|---|---|" + "---:|" * len(nfes)]
        for label, by_grid in by_sampler.items():
            for spacing, row in by_grid.items():
                lines.append(f"| {label} | {spacing} | " + " | ".join(f"{row[str(n)]['ratio']:.2f}" for n in nfes) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke test: few samplers, 1 seed, small N")
    ap.add_argument("--sweep", action="store_true", help="difflab's samplers on every grid instead of the peer comparison")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n", type=int, default=None, help="samples per seed in 2-D, a fifth of it in 64-D (default 20,000)")
    ap.add_argument("--nfe", type=int, nargs="+", default=None, help=f"NFE budgets (default {' '.join(map(str, NFES))})")
    ap.add_argument("--only", nargs="+", default=None, metavar="LABEL",
                    help="run only these sampler labels (any library), without the overhead, adaptive and plot parts")
    ap.add_argument("--overhead", action="store_true",
                    help="only the per-step overhead with a trivial model (no accuracy runs): writes <out>_overhead.json and .txt")
    ap.add_argument("--out", default=str(ROOT / "docs" / "measurements" / "samplers"), help="prefix of the .json and the .txt (markdown tables) written")
    ap.add_argument("--plot", default=str(ROOT / "docs" / "images" / "samplers_error_vs_nfe.png"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.overhead:
        return overhead_only(Path(args.out + "_overhead"), argv)
    check_oracle()
    t0 = time.time()
    seeds = range(1 if args.quick else args.seeds)
    nfes = tuple(args.nfe) if args.nfe else (5, 10) if args.quick else NFES
    problems = [Problem(name, seeds, n=(2000 if args.quick else args.n and args.n // (1 if PROBLEMS[name][0]().dim <= 2 else 5)))
                for name in PROBLEMS]
    for p in problems:
        print(f"{p.name}: dim {p.mix.dim}, {p.mix.n_components} components, N = {p.n}, seeds {p.seeds}, noise floor {p.floor:.4f}, "
              f"a fresh true draw scores {sum(p.true_draw) / len(p.true_draw):.2f} (per seed {', '.join(f'{r:.2f}' for r in p.true_draw)})", flush=True)
    command = "OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/samplers.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    meta = {"command": command, "torch": torch.__version__, "threads": torch.get_num_threads(), "nfes": list(nfes),
            "problems": {p.name: {"dim": p.mix.dim, "components": p.mix.n_components, "n": p.n, "seeds": p.seeds, "floor": p.floor,
                                  "true_draw_ratio": p.true_draw} for p in problems}}
    out = Path(args.out + ("_sweep" if args.sweep else "") + ("_quick" if args.quick else ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.sweep:
        res = sweep(problems, nfes)
        out.with_suffix(".json").write_text(json.dumps({"meta": meta, "sweep": res}, indent=1))
        out.with_suffix(".txt").write_text(f"command: `{command}`\n{sweep_table(res, nfes)}\n")
        print(f"done in {time.time() - t0:.0f} s; wrote {out}.json, {out}.txt (markdown)")
        return 0
    libs = LIBRARIES
    if args.quick:
        libs = {"difflab": {k: DIFFLAB[k] for k in ("unipc", "dpmpp-2m", "heun")},
                "diffusers": {k: DIFFUSERS[k] for k in ("DPMSolverMultistep", "Heun")},
                "k-diffusion": {k: KDIFF[k] for k in ("dpmpp_2m", "heun")}}
    if args.only:
        libs = {lib: {k: v for k, v in entries.items() if k in args.only} for lib, entries in libs.items()}
        unknown = set(args.only) - {k for entries in libs.values() for k in entries}
        if unknown:
            raise SystemExit(f"--only: unknown sampler labels {sorted(unknown)}")
    import diffusers

    meta["versions"] = {"diffusers": diffusers.__version__, "k-diffusion": _k_version()}
    partial = bool(args.only)
    over = {} if partial else overhead(steps=20 if args.quick else 50, reps=2 if args.quick else 5)
    results = run_all(problems, libs, nfes)
    adapt = {} if partial else adaptive(problems, (0.05,) if args.quick else (0.2, 0.05, 0.01))
    meta["seconds"] = time.time() - t0
    table, full = summary_table(results, nfes, {p.name: p.true_draw for p in problems}), full_table(results, nfes)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results, "adaptive": adapt, "overhead": over}, indent=1))
    out.with_suffix(".txt").write_text(f"command: `{command}`\n\n{table}\n{full}\n")
    if not (args.quick or partial):
        plot(results, nfes, Path(args.plot), {p.name: p.true_draw for p in problems})
    print(table)
    print(f"done in {time.time() - t0:.0f} s; wrote {out}.json, {out}.txt (markdown)")
    return 0


def overhead_only(out: Path, argv) -> int:
    """Run :func:`overhead` alone and write its numbers (.json) and table (.txt, markdown)."""
    import diffusers

    command = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/samplers.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    t0 = time.time()
    over = overhead()
    meta = {"command": command, "torch": torch.__version__, "threads": torch.get_num_threads(), "difflab": str(Path(difflab.__file__).parent),
            "versions": {"diffusers": diffusers.__version__}, "seconds": time.time() - t0, "load_average": list(os.getloadavg())}
    lines = ["| method | difflab (us/step) | diffusers scheduler | diffusers (us/step) | difflab / diffusers |", "|---|---:|---|---:|---:|"]
    for name, row in over.items():
        lines.append(f"| {name} | {row['difflab_s'] * 1e6:.0f} | {row['diffusers_scheduler']} | {row['diffusers_s'] * 1e6:.0f} | {row['ratio']:.2f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "overhead": over}, indent=1))
    out.with_suffix(".txt").write_text(f"command: `{command}`\n\n" + "\n".join(lines) + "\n")
    print(f"wrote {out}.json, {out}.txt (markdown)")
    return 0


def _k_version() -> str:
    from importlib.metadata import version

    return version("k-diffusion")


if __name__ == "__main__":
    raise SystemExit(main())

"""Samplers on random Gaussian mixtures nobody tuned for (issue 17): difflab's default against the
best of diffusers and k-diffusion, each peer on its best grid, with a tuning and a reporting split.

The mixtures come from :func:`difflab.models.random_mixture` (dimension 2 to 256, 2 to 16 modes,
scales over two decades, anisotropy, offsets). Seeds 0-999 are the **tuning** split: anything
difflab chooses (a grid rule, a constant) may be looked at there. Seeds 1000 and up are the
**reporting** split: it is run once, after every choice is made, and only it is reported.

Metric, as benchmarks/samplers.py: sliced W2 between N samples and a fresh true draw of N, over
the noise floor (SW2 between two true draws, 8 pairs); every sampler gets the same starting
noise and the same reference draw (common random numbers). NFE counts every evaluation.

Peers, each on every grid it offers, the best (lowest error) kept per mixture and NFE:

- diffusers: DDIM, DPMSolverMultistep (order 2 and 3), UniPC (order 2 and 3), DEIS, Euler,
  Heun, LMS; ``timestep_spacing`` leading, linspace and trailing, and Karras sigmas where the
  scheduler has them;
- k-diffusion: euler, heun, lms, dpmpp_2m, dpmpp_2m_sde, dpmpp_3m_sde on Karras, exponential
  (uniform log sigma) and DDPM-trailing sigmas.

difflab: its default (``unipc`` on its default grid: the ``tuned`` rule scaled by the sigma_data
it reads from the model's first evaluation), and ``unipc`` on trailing, Karras and log-SNR grids.

The exact answer, as a yardstick: the probability-flow ODE solved to convergence (``unipc``, 200
log-SNR steps; within 1 % of 100 steps on every mixture measured) on the same noise. It is what
a perfect deterministic sampler returns, so a peer that beats it by more than the metric's noise
wins by its own deviation from the ODE (a stochastic sampler redraws the samples; a coarse one
moves mass between modes), not by solving the ODE better. ``--seeds K`` averages every cell over
K noise and reference draws: with one draw the metric's own noise (the number of samples each
mode receives) is 10-30 % near convergence, more than the 5 % the comparison asks to resolve.

    PYTHONPATH=<peers> .venv/bin/python benchmarks/sampler_families.py --split tuning --count 10
    PYTHONPATH=<peers> .venv/bin/python benchmarks/sampler_families.py --split reporting --count 20 \\
        --out docs/measurements/sampler_families
    # the peers, beside the CPU torch:
    pip install --no-deps --target <peers> diffusers k-diffusion torchdiffeq torchsde \\
        huggingface_hub requests urllib3 idna certifi charset-normalizer regex filelock importlib_metadata zipp trampoline
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import samplers as B  # noqa: E402  (the oracle, the metric, the peers' runners)

from difflab.grids import make_grid  # noqa: E402
from difflab.io.atomic import write_text_atomic  # noqa: E402
from difflab.models import random_mixture  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPLITS = {"tuning": 0, "reporting": 1000}
NFES = (5, 10, 20)


def diffusers_run(cls_name: str, steps_of=lambda n: n, **config):
    return B.diffusers_run(cls_name, steps_of, **config)


def _diffusers_peers() -> dict:
    import diffusers

    schedulers = {
        "DDIM": ("DDIMScheduler", {"clip_sample": False}),
        "DPMSolverMultistep": ("DPMSolverMultistepScheduler", {}),
        "DPMSolverMultistep order=3": ("DPMSolverMultistepScheduler", {"solver_order": 3}),
        "UniPC": ("UniPCMultistepScheduler", {}),
        "UniPC order=3": ("UniPCMultistepScheduler", {"solver_order": 3}),
        "DEIS": ("DEISMultistepScheduler", {}),
        "Euler": ("EulerDiscreteScheduler", {}),
        "Heun": ("HeunDiscreteScheduler", {}),
        "LMS": ("LMSDiscreteScheduler", {}),
    }
    out = {}
    for label, (cls_name, config) in schedulers.items():
        params = inspect.signature(getattr(diffusers, cls_name).__init__).parameters
        steps_of = B.heun_steps if cls_name.startswith("Heun") else (lambda n: n)
        for spacing in ("leading", "linspace", "trailing"):
            out[f"{label} {spacing}"] = diffusers_run(cls_name, steps_of, timestep_spacing=spacing, **config)
        if "use_karras_sigmas" in params:
            out[f"{label} karras"] = diffusers_run(cls_name, steps_of, use_karras_sigmas=True, **config)
    return out


def kdiff_run(name: str, grid: str, steps_of=lambda n: n):
    def make(nfe):
        def run(oracle, noise, seed):
            K = B._K()
            n = steps_of(nfe)
            lo, hi = float(B.SCHEDULE.ve_sigma_min), float(B.SCHEDULE.ve_sigma_max)
            if grid == "karras":
                sigmas = K.get_sigmas_karras(n, lo, hi)
            elif grid == "exponential":
                sigmas = K.get_sigmas_exponential(n, lo, hi)
            else:
                sigmas = make_grid(B.SCHEDULE, n, "trailing")
            sigmas = sigmas.to(torch.float64)
            torch.manual_seed(2000 + seed)
            x = noise * sigmas[0]
            fn = getattr(K, f"sample_{name}")
            extra = {"noise_sampler": K.default_noise_sampler(x)} if "noise_sampler" in inspect.signature(fn).parameters else {}
            return fn(B.KDiffusionDiscreteEps(oracle), x, sigmas, disable=True, **extra)
        return run
    return make


def _kdiff_peers() -> dict:
    out = {}
    for name in ("euler", "heun", "lms", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m_sde"):
        for grid in ("karras", "exponential", "trailing"):
            out[f"{name} {grid}"] = kdiff_run(name, grid, B.heun_steps if name == "heun" else (lambda n: n))
    return out


#: the yardstick row: the probability-flow ODE solved to convergence (not a contender)
EXACT = "exact ODE (unipc, 200 log-snr steps)"


def exact_run(oracle, noise, seed):
    return B.difflab_run("unipc", spacing="log-snr")(200)(oracle, noise, seed)


def difflab_runs() -> dict:
    return {
        "default": B.difflab_run("unipc"),
        "unipc trailing": B.difflab_run("unipc", spacing="trailing"),
        "unipc karras": B.difflab_run("unipc", spacing="karras"),
        "unipc log-snr": B.difflab_run("unipc", spacing="log-snr"),
    }


#: selection draws are seeds SELECT_BASE.. (noise, references), disjoint from the report draws 0..99
#: (``--select-base`` moves them for more report draws); a draw's seed s stays below SEED_LIMIT so that its
#: noise (1000 + s) and reference (3000 + s) seeds meet no other role's (references 3000+, floor 4000+)
SELECT_BASE, SEED_LIMIT = 100, 1000


def _rows(p, runs: dict, nfes) -> dict:
    return {label: {str(nfe): {k: e[k] for k in ("ratio", "nfe")} for nfe in nfes for e in [p.error(make(nfe))]}
            for label, make in runs.items()}


def evaluate(seed: int, n: int, nfes, libraries: dict, draws: int = 1, select_draws: int = 0,
             select_base: int = SELECT_BASE) -> dict:
    """One mixture. With ``select_draws`` S > 0 the peers' configurations are compared on S draws of their
    own (seeds ``select_base``..), the best per NFE is kept, and only that one is scored on the report draws
    (seeds 0..draws-1) beside difflab's fixed default: the best of some 60 noisy scores is not scored on
    the draws it was picked on (no winner's curse)."""
    if draws > select_base or select_base + select_draws > SEED_LIMIT:
        raise ValueError(f"report draws must be at most --select-base ({select_base}) and the selection draws' "
                         f"seeds below {SEED_LIMIT}")
    mix = random_mixture(seed)
    p = B.Problem(f"mixture {seed}", range(draws), n=n, mix=mix, n_proj=256)
    exact = p.error(exact_run)["ratio"]
    out = {"seed": seed, "dim": mix.dim, "components": mix.n_components, "sigma_data": mix.data_std,
           "draws": draws, "floor": p.floor, "true_draw": sum(p.true_draw) / draws, "exact": exact, "results": {}}
    peers = {lib: runs for lib, runs in libraries.items() if lib != "difflab"}
    out["results"]["difflab"] = _rows(p, libraries["difflab"], nfes)
    if not select_draws:
        out["results"].update({lib: _rows(p, runs, nfes) for lib, runs in peers.items()})
        return out
    ps = B.Problem(f"mixture {seed} (selection)", range(select_base, select_base + select_draws), n=n, mix=mix,
                   n_proj=256)
    out["select_draws"] = select_draws
    if select_base != SELECT_BASE:
        out["select_base"] = select_base
    out["selection"] = {lib: _rows(ps, runs, nfes) for lib, runs in peers.items()}
    flat = {f"{lib} {label}": (lib, label) for lib, rows in out["selection"].items() for label in rows}
    out["selected"] = {}
    for nfe in nfes:
        chosen_ratio, chosen = best({k: out["selection"][lib][label] for k, (lib, label) in flat.items()}, nfe)
        if chosen == "-":
            continue
        lib, label = flat[chosen]
        e = p.error(peers[lib][label](nfe))
        out["selected"][str(nfe)] = {"label": chosen, "selection_ratio": chosen_ratio, "ratio": e["ratio"], "nfe": e["nfe"]}
    return out


def best(rows: dict, nfe: int):
    cands = [(r[str(nfe)]["ratio"], label) for label, r in rows.items()
             if r[str(nfe)]["nfe"] <= nfe and math.isfinite(r[str(nfe)]["ratio"])]
    return min(cands) if cands else (math.inf, "-")


def table(records: list, nfes) -> tuple[str, dict]:
    lines = ["| mixture (seed: dim, modes, sigma_data) | NFE | difflab default | best peer | default / best peer "
             "| exact / best peer | unipc trailing / karras / log-snr |", "|---|---:|---:|---|---:|---:|---|"]
    ratios, exact_ratios, to_exact, by_nfe = [], [], [], {nfe: [] for nfe in nfes}
    for rec in records:
        res = rec["results"]
        for nfe in nfes:
            if "selected" in rec:  # chosen on draws of its own, scored on the report draws
                pick = rec["selected"].get(str(nfe), {"ratio": math.inf, "label": "-"})
                peer, label = pick["ratio"], pick["label"]
            else:
                peers = {**{f"diffusers {k}": v for k, v in res["diffusers"].items()},
                         **{f"k-diffusion {k}": v for k, v in res["k-diffusion"].items()}}
                peer, label = best(peers, nfe)
            d = res["difflab"]
            mine = d["default"][str(nfe)]["ratio"]
            # a chosen peer that fails on the report draws (inf) loses the cell; kept out of the mean
            ratios.append(mine / peer if math.isfinite(peer) and peer > 0 else 0.0)
            by_nfe[nfe].append(ratios[-1])
            exact = rec.get("exact", math.nan)
            exact_ratios.append(exact / peer)
            to_exact.append(mine / exact)
            others = " / ".join(f"{d[k][str(nfe)]['ratio']:.2f}" for k in ("unipc trailing", "unipc karras", "unipc log-snr"))
            lines.append(f"| {rec['seed']}: {rec['dim']}-d, {rec['components']}, {rec['sigma_data']:.3g} | {nfe} | {mine:.2f} "
                         f"| {peer:.2f} ({label}) | **{mine / peer:.2f}** | {exact / peer:.2f} | {others} |")
    n = max(1, len(ratios))
    summary = {"cells": len(ratios), "within_1.05": sum(r <= 1.05 for r in ratios) / n,
               "worst": max(ratios, default=math.nan),
               "geomean": math.exp(sum(math.log(r) for r in ratios if r > 0) / max(1, sum(r > 0 for r in ratios))),
               "exact_within_1.05": sum(r <= 1.05 for r in exact_ratios) / n,
               "default_within_1.05_of_exact": sum(r <= 1.05 for r in to_exact) / n,
               "by_nfe": {nfe: {"within_1.05": sum(r <= 1.05 for r in rs) / len(rs),
                                "within_1.5": sum(r <= 1.5 for r in rs) / len(rs),
                                "median": statistics.median(rs),
                                "worst": max(rs)} for nfe, rs in by_nfe.items() if rs}}
    return "\n".join(lines), summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=sorted(SPLITS), required=True)
    ap.add_argument("--count", type=int, default=20, help="mixtures (seeds from the split's start)")
    ap.add_argument("--first", type=int, default=0, help="skip this many mixtures of the split")
    ap.add_argument("--n", type=int, default=4000, help="samples per mixture")
    ap.add_argument("--nfe", type=int, nargs="+", default=list(NFES))
    ap.add_argument("--seeds", type=int, default=1, help="noise and reference draws per mixture, averaged (default 1)")
    ap.add_argument("--select-draws", type=int, default=0,
                    help="choose each cell's best peer on this many draws of its own, then score it on the report "
                         "draws (default 0: the best peer is picked on the report draws themselves)")
    ap.add_argument("--select-base", type=int, default=SELECT_BASE,
                    help=f"the selection draws' first seed (default {SELECT_BASE}); raise it above --seeds for more "
                         "report draws")
    ap.add_argument("--only-difflab", action="store_true", help="difflab's runs alone (tuning a rule)")
    ap.add_argument("--out", default=None, help="prefix of the .json and .md written (default: runs/sampler_families_<split>)")
    args = ap.parse_args(argv)
    if args.only_difflab:
        args.select_draws = 0  # no peers to choose
    if not 1 <= args.seeds <= args.select_base or args.select_draws < 0 or \
            args.select_base + args.select_draws > SEED_LIMIT:
        ap.error(f"--seeds must be 1..--select-base ({args.select_base}) and --select-base + --select-draws at most "
                 f"{SEED_LIMIT} (the draws' seeds must not meet)")
    torch.set_num_threads(1)
    B.check_oracle()
    libraries = {"difflab": difflab_runs()}
    if not args.only_difflab:
        libraries["diffusers"] = _diffusers_peers()
        libraries["k-diffusion"] = _kdiff_peers()
    out = Path(args.out or ROOT / "runs" / f"sampler_families_{args.split}")
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.with_suffix(".json")
    done = json.loads(path.read_text())["records"] if path.is_file() else []
    protocol = (args.seeds, args.select_draws, args.select_base if args.select_draws else SELECT_BASE)
    other = sorted({(r.get("draws", 1), r.get("select_draws", 0), r.get("select_base", SELECT_BASE)) for r in done}
                   - {protocol})
    if other:
        ap.error(f"{path} holds records with --seeds {other[0][0]} --select-draws {other[0][1]} --select-base "
                 f"{other[0][2]}; resume with those or choose another --out")
    have = {r["seed"] for r in done}
    seeds = [SPLITS[args.split] + i for i in range(args.first, args.first + args.count)]
    t0 = time.time()
    for seed in seeds:
        if seed in have:
            continue
        t = time.time()
        rec = evaluate(seed, args.n, args.nfe, libraries, args.seeds, args.select_draws, args.select_base)
        done.append(rec)
        done.sort(key=lambda r: r["seed"])
        write_text_atomic(path, json.dumps({"command": " ".join(sys.argv), "records": done}, indent=1))
        cells = " ".join(f"{nfe}:{rec['results']['difflab']['default'][str(nfe)]['ratio']:.2f}" for nfe in args.nfe)
        print(f"[{time.time() - t0:6.0f}s] mixture {seed}: {rec['dim']}-d, {rec['components']} modes, "
              f"sigma_data {rec['sigma_data']:.3g}; default {cells} ({time.time() - t:.0f} s)", flush=True)
    records = [r for r in done if r["seed"] in seeds]
    if not args.only_difflab:
        md, summary = table(records, args.nfe)
        selection = (f"each cell's best peer chosen on {args.select_draws} draws of its own and scored on the report draws"
                     if args.select_draws else "each cell's best peer picked on the report draws themselves")
        text = (f"command: `{' '.join(sys.argv)}`\n\nsplit {args.split}, seeds {seeds[0]}-{seeds[-1]}, N = {args.n}, "
                f"{args.seeds} report draws per cell; {selection}\n\n{md}\n\n"
                f"cells {summary['cells']}; default within 1.05x of the best peer: {summary['within_1.05']:.0%}; "
                f"worst {summary['worst']:.2f}x; geometric mean {summary['geomean']:.2f}x; the exact ODE solve within 1.05x "
                f"of the best peer: {summary['exact_within_1.05']:.0%}; default within 1.05x of the exact solve: "
                f"{summary['default_within_1.05_of_exact']:.0%}\n\n"
                "| NFE | default within 1.05x of the best peer | within 1.5x | median | worst |\n|---:|---:|---:|---:|---:|\n"
                + "".join(f"| {nfe} | {c['within_1.05']:.0%} | {c['within_1.5']:.0%} | {c['median']:.2f} | {c['worst']:.2f} |\n"
                          for nfe, c in summary["by_nfe"].items()))
        write_text_atomic(out.with_suffix(".md"), text)
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

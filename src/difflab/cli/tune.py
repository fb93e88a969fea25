"""``difflab tune-grid``: optimize a sampler's step grids for one model and store them in its folder."""

from __future__ import annotations

from ._common import add_model, integer, number, positive_int, seed

#: the budgets grids are optimized for when ``--nfe`` is not given
DEFAULT_NFES = (5, 10, 20)
#: the calibration batch below which ``--against data`` warns that its FD is noisy
MIN_DATA_N = 1000
#: the calibration batch below which ``--against faithfulness`` warns that the judge's verdicts are
#: noisy: the report's own 400 single- and 400 two-object prompts (``difflab eval-t2i -n 400``)
MIN_JUDGE_N = 800


def _cmd_tune_grid(args) -> None:
    import json
    import sys
    from pathlib import Path

    from ..io.diffusers import is_diffusers_folder
    from ..io.folders import load_model, save_grids
    from ..pipelines.text_to_image import is_text_to_image_folder
    from ..limits import check_limit
    from ..samplers import optimize_grid
    from ..samplers.optimize import CALIBRATION_NOISE_SEED
    from ..tensors import randn

    folder = Path(args.model)
    noise_seed = CALIBRATION_NOISE_SEED if args.seed is None else args.seed
    check_limit("images", args.n, "--n")
    objective = validation = None
    if is_text_to_image_folder(folder):
        from ..pipelines.text_to_image import TextToImagePipeline

        pipe = TextToImagePipeline.load(folder)
        target = folder if is_diffusers_folder(folder) else folder / "denoiser"
        model, shape, cond = pipe.calibration(args.n, guidance=args.guidance)
        if args.against == "faithfulness":
            from ..evaluate.text_to_image import faithfulness_objective
            from ..pipelines.text_to_image import VALIDATION_SEED

            objective = faithfulness_objective(pipe, args.n)  # the prompts calibration() encoded
            # the validation batch reads other prompts, and is judged against them
            _, _, v_cond = pipe.calibration(args.n, guidance=args.guidance, prompt_seed=VALIDATION_SEED)
            validation = (v_cond, faithfulness_objective(pipe, args.n, prompt_seed=VALIDATION_SEED))
            if args.n < MIN_JUDGE_N:
                print(f"note: the judge's verdicts on {args.n} images are noisy; --against faithfulness wants "
                      f"-n {MIN_JUDGE_N} or more", file=sys.stderr)
    else:
        denoiser, config = load_model(folder)  # a difflab model folder or a diffusers pipeline folder
        target = folder
        if config.get("task") == "image":
            from ..pipelines.image import ImagePipeline

            pipe = ImagePipeline(denoiser, config)
            model, shape, cond = pipe.calibration(args.n, guidance=args.guidance)
            if args.against == "data":
                from ..data.images import IMAGE_DATASETS
                from ..evaluate.images import frechet_objective

                if pipe.data.get("name") not in IMAGE_DATASETS or not pipe.data.get("num_classes"):
                    raise ValueError(f"{folder}: --against data needs a model trained on a labelled dataset difflab "
                                     f"has (its features come from a classifier of it); this one names "
                                     f"{pipe.data.get('name')!r}")
                objective = frechet_objective(pipe.data, progress=True)  # first use trains a classifier per fold
                validation = (cond, objective)  # the classes in turn again, on other noise
                if args.n < MIN_DATA_N:
                    print(f"note: the FD of {args.n} samples is noisy and biased; --against data wants -n {MIN_DATA_N} "
                          "or more", file=sys.stderr)
        elif config.get("task") == "toy":
            model, shape, cond = denoiser, (args.n, *config["data"]["shape"]), {}
        else:
            raise ValueError(f"{folder}: tune-grid takes a toy or image model folder or a text-to-image pipeline; "
                             f"this folder holds a {config.get('task')!r} model")
    if args.against == "data" and objective is None:
        raise ValueError(f"{folder}: --against data needs an image model trained on a dataset difflab has; "
                         "for this model use --against ode (the default)"
                         + (" or faithfulness" if is_text_to_image_folder(folder) else ""))
    if args.against == "faithfulness" and objective is None:
        raise ValueError(f"{folder}: --against faithfulness needs a text-to-image pipeline (the shapes judge reads "
                         "its images against their prompts); for this model use --against ode (the default)"
                         + ("" if config.get("task") != "image" else " or data"))
    if validation is not None:  # noise of the next n seeds (calibration: noise_seed ... noise_seed + n - 1)
        validation = (randn(shape, noise_seed + args.n), *validation)
    for nfe in args.nfe:
        def progress(sweep, error, nfe=nfe):
            print(f"  {args.sampler} {nfe} steps, sweep {sweep + 1}/{args.sweeps}: error {error:.4g}", flush=True)

        res = optimize_grid(model, shape, args.sampler, nfe, cond=cond, seed=noise_seed, sweeps=args.sweeps,
                            progress=progress, objective=objective, validation=validation)
        what = {"ode": "error", "data": "FD to the tuning folds",
                "faithfulness": "% of calibration images the judge finds wrong"}[args.against]
        checked = res.validation
        if checked is not None and checked["kept"] == "start":
            why = (f"no grid scored better than its start on the calibration batch ({what} {res.start_error:.4g})"
                   if min(res.history) >= res.start_error else
                   f"the grid found ({what} {res.start_error:.4g} -> {min(res.history):.4g}) scores "
                   f"{checked['found']:.4g} on the validation batch against {checked['start']:.4g} for its start: "
                   "its gain was the calibration batch's own")
            print(f"{args.sampler} at {nfe} steps: {why}; nothing written ({res.nfe} evaluations in {res.seconds:.0f} s)")
            continue
        entry = {**res.to_json(), "calibration": {"n": args.n, "seed": noise_seed, "guidance": args.guidance}}
        path = save_grids(target, {(args.sampler, nfe): entry})
        levels = ", ".join(f"{v:.4g}" for v in res.sigmas.tolist())
        confirmed = "" if checked is None else f"; validation batch {checked['start']:.4g} -> {checked['found']:.4g}"
        print(f"{args.sampler} at {nfe} steps: {what} {res.start_error:.4g} -> {res.error:.4g} "
              f"({res.error / res.start_error:.2f}x){confirmed}, {res.nfe} evaluations in {res.seconds:.0f} s; "
              f"grid {levels}")
        print(f"wrote {path}")
    print(json.dumps({"model": str(folder), "sampler": args.sampler, "nfe": args.nfe}))


def register(sub) -> None:
    p = sub.add_parser("tune-grid", help="optimize a sampler's step grids for a model (stored in its folder)",
                       description="Find, for each budget, the grid on which the sampler best reproduces the model's "
                                   "own ODE solution (a fine reference solve of the same noise), or (--against data) "
                                   "whose samples come nearest the model's training data, or (--against "
                                   "faithfulness) whose images the shapes judge finds right most often, and store "
                                   "it in the "
                                   "model folder's grids.json: sampling with that sampler and step count uses it by "
                                   "default from then on (--spacing overrides). A grid found --against data or "
                                   "faithfulness is stored only where it also scores better than the grid the search "
                                   "started from on a validation batch (the next n noise seeds; for faithfulness "
                                   "other prompts too), so that a gain that was the calibration batch's own noise "
                                   "is not kept.")
    add_model(p, "model folder (toy or image) or text-to-image pipeline folder")
    p.add_argument("--nfe", type=integer(2), nargs="+", default=list(DEFAULT_NFES),
                   help=f"step counts to optimize for (default {' '.join(map(str, DEFAULT_NFES))})")
    p.add_argument("--sampler", default="unipc", help="a deterministic sampler (default unipc)")
    p.add_argument("-n", "--n", type=positive_int, default=64, help="calibration batch (default 64)")
    p.add_argument("--seed", type=seed, default=None,
                   help="first seed of the calibration noise, image i drawn from SEED + i (default: "
                        "difflab.samplers.optimize.CALIBRATION_NOISE_SEED, a tuning range away from the seeds "
                        "sampling and the reports use)")
    p.add_argument("--guidance", type=number(0), default=None,
                   help="guidance of the calibration samples (default: the model's sampling default)")
    p.add_argument("--sweeps", type=positive_int, default=8, help="passes over the grid's levels (default 8)")
    p.add_argument("--against", choices=("ode", "data", "faithfulness"), default="ode",
                   help="what the grid is optimized for: ode (default; the distance to the model's own fine ODE "
                        "solve of the calibration noise), data (the Frechet distance of the calibration samples "
                        "to folds of the model's training split, each in the features of a classifier trained on "
                        "the rest, as difflab eval scores the held-out split: image models of a dataset difflab "
                        f"has; use -n {MIN_DATA_N} or more) or faithfulness (the share of calibration images the "
                        "shapes judge finds wrong against their prompts, as difflab eval-t2i reads the held-out "
                        f"prompts: text-to-image pipelines of the shapes world; use -n {MIN_JUDGE_N} or more)")
    p.set_defaults(handler=_cmd_tune_grid)

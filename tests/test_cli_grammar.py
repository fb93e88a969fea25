"""One grammar for every ``difflab`` command, checked over the parser: the model is
``--model`` (and, where one is required, may come first), a count is ``-n``, numbers
are checked at the parser, every command that writes takes ``--overwrite``, and the
command line's defaults are the library's."""

from __future__ import annotations

import inspect

import pytest

from difflab.cli import _commands, build_parser
from difflab.cli import _common as common

COMMANDS = {p.prog.removeprefix("difflab "): p for p in _commands(build_parser())}


def _actions(parser):
    return {a.dest: a for a in reversed(parser._actions)}  # the first of the actions that share a dest (aliases)


def test_the_model_is_spelled_model_everywhere():
    for name, parser in COMMANDS.items():
        actions = _actions(parser)
        if "model" in actions:
            assert "--model" in actions["model"].option_strings, name
        assert not any(a.dest in ("model_dir", "folder_model") for a in parser._actions), name


def test_a_required_model_may_come_first_or_as_an_option(tmp_path):
    from difflab.cli import main

    parser = build_parser()
    args = parser.parse_args(["sample", "runs/x"])
    common.resolve_model(parser, args)
    assert args.model == "runs/x"
    args = parser.parse_args(["sample", "--model", "runs/y"])
    common.resolve_model(parser, args)
    assert args.model == "runs/y"
    for argv in (["sample"], ["sample", "a", "--model", "b"]):
        with pytest.raises(SystemExit):
            main(argv)


def test_counts_are_dash_n_and_numbers_are_checked_at_the_parser():
    for name, parser in COMMANDS.items():
        for action in parser._actions:
            if action.dest == "n":
                assert "-n" in action.option_strings, name
            if action.dest == "seed" or action.dest == "prompt_seed":
                assert action.type is common.seed, (name, action.dest)
            if action.dest == "steps":
                assert action.type is common.positive_int, name
            if action.dest == "device":
                assert action.type is common.device, name
            assert action.type not in (float, int), f"{name} {action.option_strings}: use number() or integer()"


def test_every_command_that_writes_takes_overwrite():
    for name, parser in COMMANDS.items():
        dests = _actions(parser)
        if {"out", "save_npy", "picture", "gif"} & set(dests) or name.startswith("train "):
            assert "overwrite" in dests, name


def test_spacing_help_names_every_grid():
    from difflab.grids import SPACINGS

    assert common.SPACINGS == SPACINGS
    for name, parser in COMMANDS.items():
        if "spacing" in _actions(parser):
            assert all(s in _actions(parser)["spacing"].help for s in SPACINGS), name


def _library_defaults():
    import difflab
    from difflab.evaluate import evaluate_image_model, evaluate_inpainting
    from difflab.pipelines.image import DEFAULTS, ImagePipeline
    from difflab.pipelines.training import train_text_to_image
    from difflab.train.autoencoder import train_autoencoder
    from difflab.train.image import train_image
    from difflab.train.superres import train_superres
    from difflab.train.toy import train_toy

    def same(*names):
        return {k: k for k in names}

    return [  # command, library function (or a dict of defaults), {command line dest: library parameter}
        ("sample", difflab.sample, same("sampler", "steps")),
        ("sample", DEFAULTS, same("sampler", "steps", "guidance")),
        ("show reverse", DEFAULTS, same("guidance")),
        ("eval", evaluate_image_model, same("n", "sampler", "steps", "guidance", "seed", "batch_size")),
        ("eval", DEFAULTS, same("sampler", "steps", "guidance")),
        ("train toy", train_toy, same("steps", "batch_size", "lr", "width", "depth", "seed", "checkpoint_every")),
        *[(f"train {task}", fn, same("device", "resume", "overwrite", "compile", "precision"))
          for task, fn in
          (("toy", train_toy), ("image", train_image), ("autoencoder", train_autoencoder), ("superres", train_superres),
           ("t2i", train_text_to_image))],
        ("train image", train_image, same("steps", "batch_size", "lr", "channels", "p_uncond", "seed", "weighting", "t_sampling",
                                          "checkpoint_every")),
        ("train autoencoder", train_autoencoder, same("steps", "batch_size", "lr", "channels", "latent_channels",
                                                      "kl_weight", "reconstruction", "checkpoint_every", "seed")),
        ("train superres", train_superres, same("steps", "batch_size", "lr", "scale", "seed", "checkpoint_every")),
        ("train t2i", train_text_to_image, same("steps", "batch_size", "lr", "channels", "p_uncond", "ema_half_life",
                                                "warmup", "seed", "scenes", "checkpoint_every")),
        ("inpaint", ImagePipeline.inpaint, {**same("n", "seed", "steps", "method", "sampler", "jump_length",
                                                   "resample", "feather")}),
        ("img2img", ImagePipeline.img2img, same("n", "seed", "steps", "sampler", "strength")),
        ("eval-inpaint", evaluate_inpainting, {**same("n", "seed", "steps", "method", "sampler", "jump_length",
                                                      "guidance", "batch_size"), "resample": "jump_n_sample"}),
    ]


def test_command_line_defaults_are_the_librarys():
    wrong = []
    for command, fn, names in _library_defaults():
        defaults = fn if isinstance(fn, dict) else {k: v.default for k, v in inspect.signature(fn).parameters.items()}
        actions = _actions(COMMANDS[command])
        for dest, param in names.items():
            if actions[dest].default != defaults[param]:
                wrong.append((command, dest, actions[dest].default, defaults[param]))
    assert not wrong, wrong


def test_every_trainer_takes_the_same_run_options():
    run = {"out", "steps", "batch_size", "lr", "seed", "device", "checkpoint_every", "resume", "quiet", "overwrite",
           "compile", "precision"}
    trainers = [name for name in COMMANDS if name.startswith("train ")]
    assert len(trainers) == 10, trainers
    for name in trainers:
        missing = run - set(_actions(COMMANDS[name]))
        assert not missing, (name, missing)


def test_spelled_choices_are_the_librarys():
    from difflab.cli.train import ATTENTION as SPELLED_ATTENTION, PRECISIONS as SPELLED, TARGETS as SPELLED_TARGETS
    from difflab.nets.style_adapter import ATTENTION
    from difflab.pipelines.style_adapter_training import TARGETS
    from difflab.precision import PRECISIONS

    assert SPELLED == PRECISIONS
    assert SPELLED_ATTENTION == ATTENTION and SPELLED_TARGETS == TARGETS
    for name in (n for n in COMMANDS if n.startswith("train ")):
        assert tuple(_actions(COMMANDS[name])["precision"].choices) == PRECISIONS, name

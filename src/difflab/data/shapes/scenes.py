"""Drawing scenes and prompts: scene ``index`` of stream ``seed`` from
``numpy.random.default_rng([seed, index])`` alone."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .captions import STYLE_PHRASINGS, STYLES, describe, name_style, stated_by
from .styles import RENDER_STYLES
from .world import Attributes, BACKGROUNDS, COLOURS, EVAL_PROMPT_OFFSET, EVAL_SEED, N_OBJECTS_P, Obj, POSITIONS, RELATIONS, RELATION_MIN, RELATION_SLOPE, SHAPES, SIZES, Scene, Thing, apart, centre_box


def _pick(rng: np.random.Generator, options: Sequence):
    """One of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


def _draw_thing(rng: np.random.Generator) -> Thing:
    return Thing(_pick(rng, SHAPES), _pick(rng, list(COLOURS)), _pick(rng, list(SIZES)))


def _draw_obj(rng: np.random.Generator, thing: Thing, cell: tuple[int, int] | None = None) -> Obj:
    extent = float(rng.uniform(*SIZES[thing.size]))
    (x0, x1), (y0, y1) = centre_box(thing.shape, extent, cell)
    return Obj(thing.shape, thing.colour, thing.size, float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)), extent)


def _draw_related(rng: np.random.Generator, thing: Thing, anchor: Obj, relation: str) -> Obj | None:
    """An object B with "anchor ``relation`` B": its centroid drawn in the wedge the
    relation allows (offset along >= RELATION_MIN, across <= RELATION_SLOPE * along),
    inside the image; None when the wedge misses the image."""
    extent = float(rng.uniform(*SIZES[thing.size]))
    box = centre_box(thing.shape, extent, None)
    axis = 0 if relation in ("left of", "right of") else 1
    sign = 1 if relation in ("left of", "above") else -1  # B lies on this side of the anchor
    a = (anchor.cx, anchor.cy)
    room = box[axis][1] - a[axis] if sign > 0 else a[axis] - box[axis][0]
    if room < RELATION_MIN:
        return None
    along = float(rng.uniform(RELATION_MIN, room))
    lo = max(box[1 - axis][0], a[1 - axis] - RELATION_SLOPE * along)
    hi = min(box[1 - axis][1], a[1 - axis] + RELATION_SLOPE * along)
    if lo > hi:
        return None
    centre = [0.0, 0.0]
    centre[axis], centre[1 - axis] = a[axis] + sign * along, float(rng.uniform(lo, hi))
    return Obj(thing.shape, thing.colour, thing.size, centre[0], centre[1], extent)


def _place(rng: np.random.Generator, things: Sequence[Thing], position: str | None, relation: str | None,
           tries: int = 30) -> tuple[Obj, ...] | None:
    """Place objects one by one: the first in its position's cell, the second in
    ``relation`` to it, each redrawn until it is apart from those before; None when
    some object does not fit in ``tries`` draws."""
    placed = [_draw_obj(rng, things[0], POSITIONS.get(position))]
    for i, thing in enumerate(things[1:], 1):
        for _ in range(tries):
            obj = _draw_related(rng, thing, placed[0], relation) if i == 1 else _draw_obj(rng, thing)
            if obj is not None and all(apart(obj, p) for p in placed):
                placed.append(obj)
                break
        else:
            return None
    return tuple(placed)


def _draw_truth(rng: np.random.Generator, n_objects: int) -> tuple[str, tuple[Obj, ...], str | None, str | None]:
    """Background, placed objects, position and relation of a random scene."""
    while True:
        background = _pick(rng, list(BACKGROUNDS))
        things = [_draw_thing(rng) for _ in range(n_objects)]
        position = _pick(rng, list(POSITIONS)) if n_objects == 1 else None
        relation = _pick(rng, RELATIONS) if n_objects > 1 else None
        objects = _place(rng, things, position, relation)
        if objects is not None:
            return background, objects, position, relation


STYLE_STREAM = 7  # the rendering style of scene i of stream s is drawn from default_rng([s, i, 7])
FLAT_NAMED_P = 0.25  # in a styled stream, P(a flat scene's caption names its style)


def check_styles(styles: Sequence[str]) -> tuple[str, ...]:
    """``styles`` as a tuple of known rendering style names, or a one-line error. A name may
    repeat: a styled stream draws its style uniformly from the tuple, so a style named k times
    is drawn k times as often (``flat,glow,glow``: glow 2/3 of the scenes)."""
    styles = tuple(styles)
    unknown = [s for s in styles if s not in RENDER_STYLES]
    if unknown or not styles:
        raise ValueError(f"styles must be a non-empty subset of {list(RENDER_STYLES)}, got {list(styles)}")
    return styles


def _draw_style(seed, index: int, styles: Sequence[str]) -> tuple[str, bool, str]:
    """(style, whether the caption names it, the naming phrasing) of scene ``index`` of a styled stream."""
    rng = np.random.default_rng([int(seed), int(index), STYLE_STREAM])
    style = _pick(rng, styles)
    named = style != "flat" or bool(rng.random() < FLAT_NAMED_P)
    return style, named, _pick(rng, STYLE_PHRASINGS)


def _draw_scene(rng: np.random.Generator, n_objects: int, style: tuple[str, bool, str] = ("flat", False, "")) -> Scene:
    background, objects, position, relation = _draw_truth(rng, n_objects)
    truth = Attributes(tuple(o.thing for o in objects), position, relation, background, style[0])
    phrasing = _pick(rng, STYLES[n_objects])
    stated = stated_by(truth, phrasing, style[1])
    caption = describe(stated, phrasing.template)
    caption = name_style(caption, style[0], style[2]) if style[1] else caption
    return Scene(background, objects, position, relation, caption, stated, style[0])


def scene_for(stated: Attributes, rng: np.random.Generator) -> Scene:
    """A random scene of which ``stated`` is true: what it leaves open (sizes, background, the
    exact places) drawn from ``rng`` as the dataset draws them. Its caption is the statement's
    first phrasing. A sample of the images a caption describes, e.g. the draw of a perfect
    text-conditional model. The rendering style is the stated one (flat if none)."""
    n = len(stated.objects)
    if not 1 <= n <= 3:
        raise ValueError(f"a scene has 1 to 3 objects, the statement names {n}")
    while True:
        background = stated.background or _pick(rng, list(BACKGROUNDS))
        things = [Thing(t.shape, t.colour, t.size or _pick(rng, list(SIZES))) for t in stated.objects]
        position = (stated.position or _pick(rng, list(POSITIONS))) if n == 1 else None
        relation = (stated.relation or _pick(rng, RELATIONS)) if n > 1 else None
        objects = _place(rng, things, position, relation)
        if objects is not None:
            caption = describe(stated, STYLES[n][0].template)
            caption = name_style(caption, stated.style) if stated.style else caption
            return Scene(background, objects, position, relation, caption, stated, stated.style or "flat")


def _scene_start(seed: int, index: int) -> tuple[np.random.Generator, int]:
    """The generator of scene ``index`` of stream ``seed`` and its number of objects, its first draw."""
    rng = np.random.default_rng([int(seed), int(index)])
    return rng, 1 + int(rng.choice(3, p=N_OBJECTS_P))


def make_scene(seed: int, index: int, styles: Sequence[str] | None = None) -> Scene:
    """Scene ``index`` of stream ``seed``: a function of (seed, index) only. With ``styles``
    (rendering style names; one named k times is drawn k times as often), the scene's style is
    drawn uniformly from them on a generator of its own, so the content is that of the
    unstyled scene; its caption names the style, except
    that a flat scene's names it only with probability :data:`FLAT_NAMED_P` (so a caption
    without a style word always shows a flat scene)."""
    if styles is None:
        return _draw_scene(*_scene_start(seed, index))
    return _draw_scene(*_scene_start(seed, index), _draw_style(seed, index, check_styles(styles)))


def object_count(seed: int, index: int) -> int:
    """``len(make_scene(seed, index).objects)``, without drawing the rest of the scene."""
    return _scene_start(seed, index)[1]


def scene_style(seed: int, index: int, styles: Sequence[str]) -> str:
    """``make_scene(seed, index, styles).style``, without drawing the rest of the scene."""
    return _draw_style(seed, index, check_styles(styles))[0]


def scene_background(seed: int, index: int) -> str:
    """``make_scene(seed, index).background`` (whatever the styles: a style is drawn on a
    generator of its own), without rendering the scene."""
    return _draw_truth(*_scene_start(seed, index))[0]


def _as_rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


_KINDS = {"single": 1, "pair": 2, "triple": 3}


def sample_prompt(rng, kind: str = "single", style: str | None = None, phrasing: str = STYLE_PHRASINGS[0]) -> tuple[str, Attributes]:
    """A random prompt and what it states, drawn exactly as dataset captions are.
    ``rng``: a numpy Generator or a seed; ``kind``: "single", "pair" or "triple"; ``style``: a
    rendering style the prompt names (with ``phrasing``), none if None."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    named = ("flat", False, "") if style is None else (check_styles([style])[0], True, phrasing)
    scene = _draw_scene(_as_rng(rng), _KINDS[kind], named)
    return scene.caption, scene.stated


def eval_prompts(n: int, kind: str = "single", seed: int = EVAL_SEED, style: str | None = None) -> list[tuple[str, Attributes]]:
    """The fixed held-out prompts: ``sample_prompt(default_rng([seed, 10**6 + i]), kind)``; with
    ``style``, the same prompts naming it, each in a phrasing drawn from prompt i's own style
    generator (``default_rng([seed, 10**6 + i, STYLE_STREAM])``)."""
    out = []
    for i in range(n):
        phrasing = STYLE_PHRASINGS[0]
        if style is not None:
            phrasing = _pick(np.random.default_rng([seed, EVAL_PROMPT_OFFSET + i, STYLE_STREAM]), STYLE_PHRASINGS)
        out.append(sample_prompt(np.random.default_rng([seed, EVAL_PROMPT_OFFSET + i]), kind, style, phrasing))
    return out

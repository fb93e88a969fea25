"""Captions of the shapes world: the phrasings, :func:`describe` and :func:`parse_prompt`
(which inverts every phrasing)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import NamedTuple

from .world import Attributes, COLOURS, SHAPES, Scene, Thing


class _Style(NamedTuple):
    """A phrasing: its template, and whether it states sizes, the background, and a
    pair from its second object's side ("B right of A")."""

    template: str
    sizes: bool
    background: bool
    inverted: bool = False


# {A}: "a red circle" (with its size when stated), {a}: "red circle"; {where}: "on the
# left", {pos}: "left"; {rel}: "to the left of", {rel_short}: "left of"; {bg}: "black"
SINGLE_STYLES = (
    _Style("{A} {where}", False, False),
    _Style("{A} {where}", True, False),
    _Style("{A} at the {pos} of a {bg} background", True, True),
    _Style("{a}, {pos}", False, False),
    _Style("a {bg} background with {A} {where}", True, True),
)
PAIR_STYLES = (
    _Style("{A} {rel} {B}", False, False),
    _Style("{A} {rel} {B}", False, False, inverted=True),
    _Style("{A} {rel_short} {B} on {bg}", True, True),
    _Style("{a} {rel_short} {b}", False, False),
    _Style("{A} {rel} {B}, {bg} background", True, True, inverted=True),
)
TRIPLE_STYLES = (
    _Style("{A} {rel} {B}, and {C}", False, False),
    _Style("{A} {rel_short} {B} and {C} on {bg}", True, True),
    _Style("{A} {rel} {B} and {C}, {bg} background", False, True, inverted=True),
)
STYLES = {1: SINGLE_STYLES, 2: PAIR_STYLES, 3: TRIPLE_STYLES}
#: how a caption names its rendering style ({caption}: the content phrasing)
STYLE_PHRASINGS = ("{caption} in {style} style", "{caption}, {style} style", "{style} style: {caption}")
_WHERE = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
          "center": "in the center"}
_REL_LONG = {"left of": "to the left of", "right of": "to the right of", "above": "above", "below": "below"}


def stated_by(truth: Attributes, style: _Style, style_named: bool = False) -> Attributes:
    """The part of ``truth`` a phrasing states (its rendering style only if ``style_named``)."""
    things = tuple(t if style.sizes else replace(t, size=None) for t in truth.objects)
    stated = replace(truth, objects=things, background=truth.background if style.background else None,
                     style=truth.style if style_named else None)
    return stated.inverted() if style.inverted else stated


def name_style(caption: str, style: str, phrasing: str = STYLE_PHRASINGS[0]) -> str:
    """A caption that also names its rendering style, e.g. "a red circle on the left in outline style"."""
    return phrasing.format(caption=caption, style=style)


def all_captions(scene: Scene) -> list[tuple[str, Attributes]]:
    """Every phrasing of the scene and what each states (the scene's own caption is one). A
    scene whose own caption names its rendering style has it named in every phrasing, the
    naming phrasings (:data:`STYLE_PHRASINGS`) taken in turn from the own caption's, so a
    scene keeps 3 to 5 captions; a scene whose caption does not name it has none named."""
    truth = scene.attributes()
    named = scene.stated.style is not None
    content = [(describe(stated, style.template), stated) for style in STYLES[len(scene.objects)]
               for stated in [stated_by(truth, style, named)]]
    if not named:
        return content
    own = next(((j, k) for j, (text, stated) in enumerate(content) for k, p in enumerate(STYLE_PHRASINGS)
                if name_style(text, stated.style, p) == scene.caption), (0, 0))
    turn = len(STYLE_PHRASINGS)
    return [(name_style(text, stated.style, STYLE_PHRASINGS[(own[1] + j - own[0]) % turn]), stated)
            for j, (text, stated) in enumerate(content)]


def _noun(thing: Thing, article: bool) -> str:
    words = " ".join(w for w in (thing.size, thing.colour, thing.shape) if w)
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}" if article else words


def describe(attributes: Attributes, template: str) -> str:
    """Fill a phrasing template (see :data:`SINGLE_STYLES`) with ``attributes``."""
    fields = {"pos": attributes.position, "where": _WHERE.get(attributes.position),
              "rel_short": attributes.relation, "rel": _REL_LONG.get(attributes.relation),
              "bg": attributes.background}
    for key, thing in zip("ABC", attributes.objects):
        fields[key], fields[key.lower()] = _noun(thing, True), _noun(thing, False)
    return template.format(**fields)


_NOUN_RE = re.compile(rf"\b(?:(small|large|big)\s+)?({'|'.join(COLOURS)})\s+({'|'.join(SHAPES)})\b")
_BACKGROUND_RE = re.compile(r"\b(black|white|gray|grey)\b")
_RELATION_RE = re.compile(r"\b(left of|right of|above|below)\b")
_POSITION_RE = re.compile(r"\b(left|right|top|bottom|center|centre|middle)\b")
_STYLE_RE = re.compile(r"\b(flat|outlined?|striped|stripes|dotted|dots|polka|pixel|pixelated|glow|glowing)\b")
_SYNONYMS = {"big": "large", "grey": "gray", "centre": "center", "middle": "center", "outlined": "outline",
             "stripes": "striped", "dots": "dotted", "polka": "dotted", "pixelated": "pixel", "glowing": "glow"}


def _word(match: re.Match | None, group: int = 1) -> str | None:
    word = match.group(group) if match else None
    return _SYNONYMS.get(word, word)


def parse_prompt(text: str) -> Attributes:
    """What a prompt states, from any phrasing the captioner makes (and close variants).

    Objects are the "[size] colour shape" phrases in order; the background is the one
    achromatic word (black, white, gray/grey). With two or more objects, the first
    "left of", "right of", "above" or "below" is the relation of the first two; with
    one object, the first left, right, top, bottom, center/centre/middle is its
    position ("at the left of a black background" is a position). The first style word
    (flat, outline, striped, dotted, pixel, glow, or a close variant such as "glowing",
    "polka dots", "pixelated") is the rendering style. Other words are ignored: a position
    word in a prompt with several objects says nothing.
    """
    low = text.lower()
    things = tuple(Thing(shape, colour, _SYNONYMS.get(size, size or None))
                   for size, colour, shape in _NOUN_RE.findall(low))
    if not things:
        raise ValueError(f"prompt names no '[size] colour shape' object (colours {list(COLOURS)}, "
                         f"shapes {list(SHAPES)}): {text!r}")
    relation = _word(_RELATION_RE.search(low)) if len(things) > 1 else None
    position = _word(_POSITION_RE.search(low)) if len(things) == 1 else None
    return Attributes(things, position, relation, _word(_BACKGROUND_RE.search(low)), _word(_STYLE_RE.search(low)))

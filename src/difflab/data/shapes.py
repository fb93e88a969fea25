"""Captioned shapes: procedurally rendered scenes for text-to-image diffusion.

Every image is a *scene*: 1 to 3 flat-coloured objects on an achromatic background,
with a caption that says what is where, and the ground truth (:class:`Scene`) that
made it, so a judge (:mod:`difflab.metrics.shapes_judge`) can check a generated
image against its prompt. Nothing is downloaded; scene ``index`` of stream ``seed``
is drawn from ``numpy.random.default_rng([seed, index])`` alone, so it is the same
whatever the batching, and the same geometry renders at any size.

Vocabulary
----------
- backgrounds: black (0, 0, 0), gray (128, 128, 128), white (255, 255, 255)
- colours (saturated, far from the backgrounds and apart in hue, see :data:`COLOURS`):
  red, orange, yellow, green, blue, purple
- shapes: circle, square, triangle (axis-aligned; triangles are equilateral and point up)
- sizes: small, large (the object's width, see :data:`SIZES`)
- positions of a single object: left, right, top, bottom, center
- relations between the first two objects: left of, right of, above, below
- number of objects: 1, 2 or 3 with probabilities :data:`N_OBJECTS_P` (0.4, 0.4, 0.2);
  every word of an object (shape, colour, size) is drawn uniformly and independently,
  so two objects may be twins

Geometry (unit coordinates: x right, y *down*, the image is [0, 1] x [0, 1])
---------------------------------------------------------------------------
- An object's centre ``(cx, cy)`` is its centroid (centre of mass). Its ``extent`` is
  its width: a circle's diameter, a square's side, a triangle's base; a triangle's
  height is ``extent * sqrt(3) / 2`` and its apex lies ``2/3`` of that above ``cy``.
- size: small means extent in ``SIZES["small"]`` = [0.18, 0.22], large in
  ``SIZES["large"]`` = [0.30, 0.36] (uniform).
- every bounding box keeps :data:`MARGIN` (0.04) from the image border, and two
  bounding boxes are at least :data:`GAP` (0.08) apart along x or along y: objects
  never overlap nor touch.
- position: the image is cut in a 3 x 3 grid of thirds; the position is the cell of
  the centroid: left = (left column, middle row), right = (right, middle), top =
  (middle, top row), bottom = (middle, bottom), center = (middle, middle). Scenes
  keep centroids :data:`CELL_MARGIN` (0.04) away from the grid lines. Corner cells
  have no name and are not used for single objects.
- relation "A left of B": with ``dx = B.cx - A.cx`` and ``dy = B.cy - A.cy``,
  ``dx >= RELATION_MIN`` (0.25) and ``|dy| <= RELATION_SLOPE * dx`` (0.5: within
  about 27 degrees of the horizontal); "right of" mirrors it; "above"/"below" are the
  same rule with x and y exchanged ("A above B": A.cy < B.cy). :func:`relation_of`
  is the one definition; the judge calls it with looser thresholds.
- placement: the first object's centroid is uniform where its bbox fits (inside its
  cell for a single object), the second's uniform in the wedge its relation allows,
  the third's uniform; each is redrawn until apart from those before (a scene whose
  objects do not fit is redrawn whole). A third object may stand anywhere; the
  caption only says it is there.

Rendering
---------
:func:`render` draws a scene at any size: each pixel's coverage by an object is the
mean of 4 x 4 point samples inside it (a box filter over a 4x supersampled image),
and the pixel is ``background + coverage * (colour - background)``, rounded to uint8.
Edges therefore carry intermediate values, and the sum of coverage is the object's
area to within a fraction of a pixel.

Captions
--------
Each scene is described by one phrasing drawn uniformly from :data:`SINGLE_STYLES`,
:data:`PAIR_STYLES` or :data:`TRIPLE_STYLES`, e.g. "a red circle on the left",
"a small red circle at the left of a black background", "red circle, left",
"a blue square to the right of a red circle" (a pair stated from its second
object's side), "a small red circle left of a large blue square on white",
"a red circle to the left of a blue square, and a green triangle" (three objects: the
relation of the first two, then "and" the third). A phrasing states a subset of the
truth (sizes and background are optional): ``Scene.stated`` holds exactly what the
caption says, as :class:`Attributes`; :func:`all_captions` gives every phrasing of a
scene (for caption augmentation), and :func:`parse_prompt` inverts each of them.

Splits
------
Training images come from stream :data:`TRAIN_SEED` (0), held-out images from
:data:`EVAL_SEED` (1); held-out prompts for text-to-image evaluation are
:func:`eval_prompts` (``sample_prompt(default_rng([EVAL_SEED, 10**6 + i]), kind)``).
The vocabulary is small, so held-out prompts are new *images and layouts*, not new
words; their attribute combinations usually also occur in training.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch

__all__ = [
    "BACKGROUNDS", "COLOURS", "SHAPES", "SIZES", "POSITIONS", "RELATIONS", "INVERSE",
    "MARGIN", "GAP", "CELL_MARGIN", "RELATION_MIN", "RELATION_SLOPE", "N_OBJECTS_P",
    "TRAIN_SEED", "EVAL_SEED", "SINGLE_STYLES", "PAIR_STYLES", "TRIPLE_STYLES",
    "Thing", "Attributes", "Obj", "Scene", "ShapesBatch", "ShapesStream",
    "make_scene", "object_count", "coverage", "render", "render_batch", "shapes_batch", "to_tensor",
    "sample_prompt", "eval_prompts", "parse_prompt", "describe", "all_captions",
    "position_of", "relation_of", "apart",
]

#: background name -> RGB (achromatic)
BACKGROUNDS = {"black": (0, 0, 0), "gray": (128, 128, 128), "white": (255, 255, 255)}
#: object colour name -> RGB; hues 0, 29, 58, 132, 229, 280 degrees, chroma (max - min) >= 140
COLOURS = {
    "red": (220, 30, 30),
    "orange": (250, 120, 0),
    "yellow": (240, 230, 20),
    "green": (30, 170, 60),
    "blue": (40, 80, 230),
    "purple": (150, 40, 210),
}
SHAPES = ("circle", "square", "triangle")
#: size name -> range of the extent (object width) in image widths
SIZES = {"small": (0.18, 0.22), "large": (0.30, 0.36)}
#: position name -> (column, row) of the 3 x 3 grid of thirds
POSITIONS = {"left": (0, 1), "right": (2, 1), "top": (1, 0), "bottom": (1, 2), "center": (1, 1)}
RELATIONS = ("left of", "right of", "above", "below")
#: "A r B" is "B INVERSE[r] A"
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}

MARGIN = 0.04  # bounding box to image border
GAP = 0.08  # between two bounding boxes, along x or y
CELL_MARGIN = 0.04  # single object's centroid to the thirds lines
RELATION_MIN = 0.25  # offset along the relation's axis
RELATION_SLOPE = 0.5  # |offset across| <= slope * offset along
N_OBJECTS_P = (0.4, 0.4, 0.2)  # P(1 object), P(2), P(3)
TRAIN_SEED = 0
EVAL_SEED = 1
_EVAL_PROMPT_OFFSET = 10**6  # eval prompts use indices disjoint from eval images
_TRIANGLE_HEIGHT = math.sqrt(3) / 2  # height / base of an equilateral triangle


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Thing:
    """An object as words describe it: shape, colour and (when stated) size."""

    shape: str
    colour: str
    size: str | None = None


@dataclass(frozen=True)
class Attributes:
    """What a prompt states. ``position`` is said of a single object; ``relation`` is
    "objects[0] <relation> objects[1]"; ``None`` means not stated."""

    objects: tuple[Thing, ...]
    position: str | None = None
    relation: str | None = None
    background: str | None = None

    def canonical(self) -> "Attributes":
        """The same statement with the relation turned to "left of" or "above"."""
        return self.inverted() if self.relation in ("right of", "below") else self

    def inverted(self) -> "Attributes":
        """The same statement from the second object's side ("B right of A")."""
        a, b, *rest = self.objects
        return replace(self, objects=(b, a, *rest), relation=INVERSE[self.relation])


@dataclass(frozen=True)
class Obj:
    """A placed object: centroid (cx, cy) and extent (width) in unit coordinates."""

    shape: str
    colour: str
    size: str
    cx: float
    cy: float
    extent: float

    @property
    def thing(self) -> Thing:
        return Thing(self.shape, self.colour, self.size)

    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1): a triangle's centroid is 1/3 of its height above its base."""
        half = self.extent / 2
        if self.shape == "triangle":
            h = self.extent * _TRIANGLE_HEIGHT
            return self.cx - half, self.cy - 2 * h / 3, self.cx + half, self.cy + h / 3
        return self.cx - half, self.cy - half, self.cx + half, self.cy + half


@dataclass(frozen=True)
class Scene:
    """Ground truth of one image: every attribute, and what its caption states."""

    background: str
    objects: tuple[Obj, ...]
    position: str | None  # cell of the single object; None for 2 or 3 objects
    relation: str | None  # objects[0] <relation> objects[1]; None for one object
    caption: str
    stated: Attributes

    def attributes(self) -> Attributes:
        """Everything true of the scene, as a prompt could state it."""
        return Attributes(tuple(o.thing for o in self.objects), self.position, self.relation, self.background)


class ShapesBatch(NamedTuple):
    """Images (N, 3, H, W) float32 in [-1, 1], their captions and scenes."""

    images: torch.Tensor
    captions: list[str]
    scenes: list[Scene]


# ------------------------------------------------------------------------ geometry


def position_of(cx: float, cy: float) -> str | None:
    """Name of the 3 x 3 cell holding (cx, cy), or None for a corner cell."""
    cell = (min(2, max(0, int(cx * 3))), min(2, max(0, int(cy * 3))))
    return next((name for name, c in POSITIONS.items() if c == cell), None)


def relation_of(a: tuple[float, float], b: tuple[float, float], min_offset: float = RELATION_MIN,
                slope: float = RELATION_SLOPE) -> str | None:
    """The relation r with "a r b", or None: the offset along r's axis is at least
    ``min_offset`` and the offset across it at most ``slope`` times that (y down)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    if abs(dx) >= min_offset and abs(dy) <= slope * abs(dx):
        return "left of" if dx > 0 else "right of"
    if abs(dy) >= min_offset and abs(dx) <= slope * abs(dy):
        return "above" if dy > 0 else "below"
    return None


def apart(a: Obj, b: Obj, gap: float = GAP) -> bool:
    """Bounding boxes at least ``gap`` apart along x or along y."""
    ax0, ay0, ax1, ay1 = a.bbox()
    bx0, by0, bx1, by1 = b.bbox()
    return max(bx0 - ax1, ax0 - bx1) >= gap or max(by0 - ay1, ay0 - by1) >= gap


def _centre_box(shape: str, extent: float, cell: tuple[int, int] | None) -> tuple[tuple[float, float], ...]:
    """Ranges of cx and cy keeping the bbox MARGIN inside the image (and the centroid
    CELL_MARGIN inside ``cell`` when given)."""
    x0, y0, x1, y1 = Obj(shape, "", "", 0.0, 0.0, extent).bbox()
    ranges = [[MARGIN - x0, 1 - MARGIN - x1], [MARGIN - y0, 1 - MARGIN - y1]]
    if cell is not None:
        for r, c in zip(ranges, cell):
            r[0], r[1] = max(r[0], c / 3 + CELL_MARGIN), min(r[1], (c + 1) / 3 - CELL_MARGIN)
    return tuple(tuple(r) for r in ranges)


# ------------------------------------------------------------------------ sampling


def _pick(rng: np.random.Generator, options: Sequence):
    """One of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


def _draw_thing(rng: np.random.Generator) -> Thing:
    return Thing(_pick(rng, SHAPES), _pick(rng, list(COLOURS)), _pick(rng, list(SIZES)))


def _draw_obj(rng: np.random.Generator, thing: Thing, cell: tuple[int, int] | None = None) -> Obj:
    extent = float(rng.uniform(*SIZES[thing.size]))
    (x0, x1), (y0, y1) = _centre_box(thing.shape, extent, cell)
    return Obj(thing.shape, thing.colour, thing.size, float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)), extent)


def _draw_related(rng: np.random.Generator, thing: Thing, anchor: Obj, relation: str) -> Obj | None:
    """An object B with "anchor ``relation`` B": its centroid drawn in the wedge the
    relation allows (offset along >= RELATION_MIN, across <= RELATION_SLOPE * along),
    inside the image; None when the wedge misses the image."""
    extent = float(rng.uniform(*SIZES[thing.size]))
    box = _centre_box(thing.shape, extent, None)
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


def _draw_scene(rng: np.random.Generator, n_objects: int) -> Scene:
    background, objects, position, relation = _draw_truth(rng, n_objects)
    truth = Attributes(tuple(o.thing for o in objects), position, relation, background)
    style = _pick(rng, _STYLES[n_objects])
    stated = _state(truth, style)
    return Scene(background, objects, position, relation, describe(stated, style.template), stated)


def _scene_start(seed: int, index: int) -> tuple[np.random.Generator, int]:
    """The generator of scene ``index`` of stream ``seed`` and its number of objects, its first draw."""
    rng = np.random.default_rng([int(seed), int(index)])
    return rng, 1 + int(rng.choice(3, p=N_OBJECTS_P))


def make_scene(seed: int, index: int) -> Scene:
    """Scene ``index`` of stream ``seed``: a function of (seed, index) only."""
    return _draw_scene(*_scene_start(seed, index))


def object_count(seed: int, index: int) -> int:
    """``len(make_scene(seed, index).objects)``, without drawing the rest of the scene."""
    return _scene_start(seed, index)[1]


def _as_rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


_KINDS = {"single": 1, "pair": 2, "triple": 3}


def sample_prompt(rng, kind: str = "single") -> tuple[str, Attributes]:
    """A random prompt and what it states, drawn exactly as dataset captions are.
    ``rng``: a numpy Generator or a seed; ``kind``: "single", "pair" or "triple"."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    scene = _draw_scene(_as_rng(rng), _KINDS[kind])
    return scene.caption, scene.stated


def eval_prompts(n: int, kind: str = "single", seed: int = EVAL_SEED) -> list[tuple[str, Attributes]]:
    """The fixed held-out prompts: ``sample_prompt(default_rng([seed, 10**6 + i]), kind)``."""
    return [sample_prompt(np.random.default_rng([seed, _EVAL_PROMPT_OFFSET + i]), kind) for i in range(n)]


# ------------------------------------------------------------------------ captions


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
_STYLES = {1: SINGLE_STYLES, 2: PAIR_STYLES, 3: TRIPLE_STYLES}
_WHERE = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
          "center": "in the center"}
_REL_LONG = {"left of": "to the left of", "right of": "to the right of", "above": "above", "below": "below"}


def _state(truth: Attributes, style: _Style) -> Attributes:
    """The part of ``truth`` a phrasing states."""
    things = tuple(t if style.sizes else replace(t, size=None) for t in truth.objects)
    stated = replace(truth, objects=things, background=truth.background if style.background else None)
    return stated.inverted() if style.inverted else stated


def all_captions(scene: Scene) -> list[tuple[str, Attributes]]:
    """Every phrasing of the scene and what each states (the scene's own caption is one)."""
    truth = scene.attributes()
    return [(describe(stated, style.template), stated) for style in _STYLES[len(scene.objects)]
            for stated in [_state(truth, style)]]


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
_SYNONYMS = {"big": "large", "grey": "gray", "centre": "center", "middle": "center"}


def _word(match: re.Match | None, group: int = 1) -> str | None:
    word = match.group(group) if match else None
    return _SYNONYMS.get(word, word)


def parse_prompt(text: str) -> Attributes:
    """What a prompt states, from any phrasing the captioner makes (and close variants).

    Objects are the "[size] colour shape" phrases in order; the background is the one
    achromatic word (black, white, gray/grey). With two or more objects, the first
    "left of", "right of", "above" or "below" is the relation of the first two; with
    one object, the first left, right, top, bottom, center/centre/middle is its
    position ("at the left of a black background" is a position). Other words are
    ignored: a position word in a prompt with several objects says nothing.
    """
    low = text.lower()
    things = tuple(Thing(shape, colour, _SYNONYMS.get(size, size or None))
                   for size, colour, shape in _NOUN_RE.findall(low))
    if not things:
        raise ValueError(f"prompt names no '[size] colour shape' object (colours {list(COLOURS)}, "
                         f"shapes {list(SHAPES)}): {text!r}")
    relation = _word(_RELATION_RE.search(low)) if len(things) > 1 else None
    position = _word(_POSITION_RE.search(low)) if len(things) == 1 else None
    return Attributes(things, position, relation, _word(_BACKGROUND_RE.search(low)))


# ----------------------------------------------------------------------- rendering


def _inside(obj: Obj, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean: points (x, y) (unit coordinates, broadcast) inside the object."""
    half = obj.extent / 2
    if obj.shape == "circle":
        return (x - obj.cx) ** 2 + (y - obj.cy) ** 2 <= half**2
    if obj.shape == "square":
        return (np.abs(x - obj.cx) <= half) & (np.abs(y - obj.cy) <= half)
    h = obj.extent * _TRIANGLE_HEIGHT
    t = (y - (obj.cy - 2 * h / 3)) / h  # 0 at the apex, 1 at the base
    return (t >= 0) & (t <= 1) & (np.abs(x - obj.cx) <= t * half)


def coverage(obj: Obj, size: int, supersample: int = 4) -> np.ndarray:
    """(size, size) fraction of each pixel covered by ``obj``: the mean of
    ``supersample``^2 point samples per pixel (a box filter), computed only over the
    pixels its bounding box touches."""
    x0, y0, x1, y1 = obj.bbox()
    c0, r0 = max(0, math.floor(x0 * size)), max(0, math.floor(y0 * size))
    c1, r1 = min(size, math.ceil(x1 * size)), min(size, math.ceil(y1 * size))
    f = supersample
    xs = (np.arange(c0 * f, c1 * f) + 0.5) / (f * size)
    ys = (np.arange(r0 * f, r1 * f) + 0.5) / (f * size)
    cover = np.zeros((size, size))
    if r1 > r0 and c1 > c0:
        inside = _inside(obj, xs[None, :], ys[:, None])
        cover[r0:r1, c0:c1] = inside.reshape(r1 - r0, f, c1 - c0, f).mean(axis=(1, 3))
    return cover


def render(scene: Scene, size: int = 64, supersample: int = 4) -> np.ndarray:
    """The scene as a (size, size, 3) uint8 RGB array, anti-aliased: each object's
    pixel coverage blends its colour over the background."""
    if size < 1 or supersample < 1:
        raise ValueError(f"size and supersample must be positive, got {size} and {supersample}")
    image = np.empty((size, size, 3))
    image[:] = BACKGROUNDS[scene.background]
    for obj in scene.objects:
        cover = coverage(obj, size, supersample)[..., None]
        image += cover * (np.asarray(COLOURS[obj.colour], float) - image)
    return np.rint(image).astype(np.uint8)


def render_batch(n: int, seed: int = TRAIN_SEED, size: int = 64, start: int = 0) -> tuple[np.ndarray, list[Scene]]:
    """Scenes ``start .. start + n - 1`` of stream ``seed``: (n, size, size, 3) uint8 and the scenes."""
    scenes = [make_scene(seed, i) for i in range(start, start + n)]
    images = np.stack([render(s, size) for s in scenes]) if scenes else np.zeros((0, size, size, 3), np.uint8)
    return images, scenes


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [-1, 1]."""
    return (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1).contiguous()


def shapes_batch(n: int, seed: int = TRAIN_SEED, size: int = 64, start: int = 0) -> ShapesBatch:
    """Scenes ``start .. start + n - 1`` of stream ``seed`` as model-ready tensors."""
    images, scenes = render_batch(n, seed, size, start)
    return ShapesBatch(to_tensor(images), [s.caption for s in scenes], scenes)


class ShapesStream:
    """An endless stream of :class:`ShapesBatch` of ``batch_size`` scenes from ``start``
    on; ``stream.scene(i)`` is scene i of the same seed."""

    def __init__(self, seed: int = TRAIN_SEED, size: int = 64, batch_size: int = 64, start: int = 0):
        self.seed, self.size, self.batch_size, self.start = seed, size, batch_size, start

    def scene(self, index: int) -> Scene:
        return make_scene(self.seed, index)

    def __iter__(self) -> Iterator[ShapesBatch]:
        start = self.start
        while True:
            yield shapes_batch(self.batch_size, self.seed, self.size, start)
            start += self.batch_size

"""The shapes world: its vocabulary, the ground-truth types (:class:`Thing`, :class:`Attributes`,
:class:`Obj`, :class:`Scene`) and the geometry of positions and relations (see
:mod:`difflab.data.shapes`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch


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
EVAL_PROMPT_OFFSET = 10**6  # eval prompts use indices disjoint from eval images
TRIANGLE_HEIGHT = math.sqrt(3) / 2  # height / base of an equilateral triangle


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
    "objects[0] <relation> objects[1]"; ``style`` is the rendering style
    (:mod:`~difflab.data.shapes.styles`); ``None`` means not stated."""

    objects: tuple[Thing, ...]
    position: str | None = None
    relation: str | None = None
    background: str | None = None
    style: str | None = None

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
            h = self.extent * TRIANGLE_HEIGHT
            return self.cx - half, self.cy - 2 * h / 3, self.cx + half, self.cy + h / 3
        return self.cx - half, self.cy - half, self.cx + half, self.cy + half


@dataclass(frozen=True)
class Scene:
    """Ground truth of one image: every attribute, its rendering style, and what its caption
    states."""

    background: str
    objects: tuple[Obj, ...]
    position: str | None  # cell of the single object; None for 2 or 3 objects
    relation: str | None  # objects[0] <relation> objects[1]; None for one object
    caption: str
    stated: Attributes
    style: str = "flat"

    def attributes(self) -> Attributes:
        """Everything true of the scene, as a prompt could state it."""
        return Attributes(tuple(o.thing for o in self.objects), self.position, self.relation, self.background,
                          self.style)


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


def centre_box(shape: str, extent: float, cell: tuple[int, int] | None) -> tuple[tuple[float, float], ...]:
    """Ranges of cx and cy keeping the bbox MARGIN inside the image (and the centroid
    CELL_MARGIN inside ``cell`` when given)."""
    x0, y0, x1, y1 = Obj(shape, "", "", 0.0, 0.0, extent).bbox()
    ranges = [[MARGIN - x0, 1 - MARGIN - x1], [MARGIN - y0, 1 - MARGIN - y1]]
    if cell is not None:
        for r, c in zip(ranges, cell):
            r[0], r[1] = max(r[0], c / 3 + CELL_MARGIN), min(r[1], (c + 1) / 3 - CELL_MARGIN)
    return tuple(tuple(r) for r in ranges)

"""Captioned shapes: procedurally rendered scenes for text-to-image diffusion.

The package: :mod:`~difflab.data.shapes.world` (vocabulary, ground truth, geometry),
:mod:`~difflab.data.shapes.captions`, :mod:`~difflab.data.shapes.scenes` (drawing scenes
and prompts) and :mod:`~difflab.data.shapes.render`.

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

Rendering styles
----------------
Every scene has a rendering style (:mod:`~difflab.data.shapes.styles`, :data:`RENDER_STYLES`):
``flat`` (solid fill, the default and the only style of the original streams), ``outline``,
``striped``, ``dotted``, ``pixel`` and ``glow``; content stays judgeable in each.
``make_scene(seed, i, styles=...)`` draws scene i's style from those given, on a generator of
its own (``default_rng([seed, i, 7])``), so the content is the unstyled scene's; its caption
names the style in one of :data:`STYLE_PHRASINGS` ("a red circle on the left in outline
style", "..., outline style", "outline style: ..."), always for a styled scene and with
probability 0.25 for a flat one. A caption without a style word therefore always shows a
flat scene: unstyled prompts keep the flat look.

Splits
------
Training images come from stream :data:`TRAIN_SEED` (0), held-out images from
:data:`EVAL_SEED` (1); held-out prompts for text-to-image evaluation are
:func:`eval_prompts` (``sample_prompt(default_rng([EVAL_SEED, 10**6 + i]), kind)``).
The vocabulary is small, so held-out prompts are new *images and layouts*, not new
words; their attribute combinations usually also occur in training.
"""

from __future__ import annotations

from .world import BACKGROUNDS, COLOURS, SHAPES, SIZES, POSITIONS, RELATIONS, INVERSE, MARGIN, GAP, CELL_MARGIN, RELATION_MIN, RELATION_SLOPE, N_OBJECTS_P, TRAIN_SEED, EVAL_SEED, Thing, Attributes, Obj, Scene, ShapesBatch, position_of, relation_of, apart
from .captions import SINGLE_STYLES, PAIR_STYLES, TRIPLE_STYLES, STYLE_PHRASINGS, parse_prompt, describe, all_captions, name_style
from .scenes import make_scene, object_count, scene_background, scene_style, sample_prompt, eval_prompts, check_styles
from .styles import RENDER_STYLES
from .render import ShapesStream, coverage, render, render_batch, shapes_batch, to_tensor, to_uint8

__all__ = [
    'BACKGROUNDS',
    'COLOURS',
    'SHAPES',
    'SIZES',
    'POSITIONS',
    'RELATIONS',
    'INVERSE',
    'MARGIN',
    'GAP',
    'CELL_MARGIN',
    'RELATION_MIN',
    'RELATION_SLOPE',
    'N_OBJECTS_P',
    'TRAIN_SEED',
    'EVAL_SEED',
    'SINGLE_STYLES',
    'PAIR_STYLES',
    'TRIPLE_STYLES',
    'STYLE_PHRASINGS',
    'RENDER_STYLES',
    'Thing',
    'Attributes',
    'Obj',
    'Scene',
    'ShapesBatch',
    'ShapesStream',
    'make_scene',
    'object_count',
    'scene_style',
    'scene_background',
    'coverage',
    'render',
    'render_batch',
    'shapes_batch',
    'to_tensor',
    'to_uint8',
    'sample_prompt',
    'eval_prompts',
    'parse_prompt',
    'describe',
    'all_captions',
    'name_style',
    'check_styles',
    'position_of',
    'relation_of',
    'apart',
]

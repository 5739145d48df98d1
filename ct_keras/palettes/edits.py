"""Palette edits (paper §6.3, Fig. 9): shapes painted with a task over a base palette.

An edit file is JSON, either a list of shapes or an object
    {"base": "<palette spec>", "shapes": [shape, …]}
Each shape names its `task` (name or id) and is painted in order, later over earlier,
in the image's own pixel coordinates (x to the right, y down; pixel (x, y) covers
[x, x+1) × [y, y+1) and is painted when its centre lies inside the shape):
    {"shape": "rectangle", "task": "normals", "x0": 10, "y0": 20, "x1": 100, "y1": 80}
    {"shape": "polygon", "task": "edges", "points": [[x, y], [x, y], [x, y], …]}
    {"shape": "circle", "task": "saliency", "cx": 50, "cy": 40, "r": 25}
    {"shape": "brush", "task": "parts", "points": [[x, y], …], "width": 9}
    {"shape": "fill", "task": "semseg", "x": 30, "y": 12}
A brush is a stroke: every pixel within width/2 of the polyline through its points.
A fill is a flood fill: the 4-connected region of pixel (x, y)'s task, as painted so far.
A shape may carry a "comment"; any other field is an error (it is likely a typo).
"""

import json
import os

import numpy as np

from ct_keras.tasks import task_id

SHAPE_FIELDS = {
    "rectangle": ("x0", "y0", "x1", "y1"),
    "polygon": ("points",),
    "circle": ("cx", "cy", "r"),
    "brush": ("points", "width"),
    "fill": ("x", "y"),
}
COMMON_FIELDS = ("shape", "task", "comment")


class Edits:
    """A parsed edit file: `base` (a palette spec or None) and checked `shapes`."""

    def __init__(self, shapes, base=None, source="edits"):
        self.source = source
        self.base = base
        self.shapes = [check_shape(s, i, source) for i, s in enumerate(shapes)]

    def apply(self, palette):
        """A copy of `palette` `[H, W]` with every shape painted in order."""
        palette = np.array(palette, np.int32)
        for shape in self.shapes:
            mask = fill_mask(shape, palette) if shape["shape"] == "fill" else shape_mask(shape, palette.shape)
            palette[mask] = shape["task"]
        return palette


def _number(value, where, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{where}: field {field!r} must be a number. Received {value!r}")
    return float(value)


def _points(value, where, minimum):
    if not isinstance(value, list) or len(value) < minimum:
        raise ValueError(f"{where}: field 'points' must be a list of at least {minimum} [x, y] "
                         f"pairs. Received {json.dumps(value)[:80]}")
    points = []
    for j, p in enumerate(value):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError(f"{where}: points[{j}] must be an [x, y] pair. Received {p!r}")
        points.append([_number(c, where, f"points[{j}]") for c in p])
    return np.array(points, np.float64)


def check_shape(shape, index, source="edits"):
    """One shape of an edit file, checked; returns it with numbers and a task id."""
    where = f"{source}: shapes[{index}]"
    if not isinstance(shape, dict):
        raise ValueError(f"{where} must be an object with a 'shape' and a 'task'. Received {shape!r}")
    kind = shape.get("shape")
    if kind not in SHAPE_FIELDS:
        raise ValueError(f"{where}: unknown shape {kind!r}: use one of {sorted(SHAPE_FIELDS)}")
    where = f"{where} ({kind})"
    fields = SHAPE_FIELDS[kind]
    missing = [f for f in ("task",) + fields if f not in shape]
    if missing:
        raise ValueError(f"{where}: missing field {missing[0]!r} (a {kind} needs "
                         f"{', '.join(('task',) + fields)})")
    extra = sorted(set(shape) - set(fields) - set(COMMON_FIELDS))
    if extra:
        raise ValueError(f"{where}: unknown field {extra[0]!r} (a {kind} has "
                         f"{', '.join(('task',) + fields)})")
    try:
        checked = {"shape": kind, "task": task_id(shape["task"])}
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    for field in fields:
        if field == "points":
            checked[field] = _points(shape[field], where, 3 if kind == "polygon" else 1)
        else:
            checked[field] = _number(shape[field], where, field)
    for field in ("r", "width"):
        if field in checked and checked[field] <= 0:
            raise ValueError(f"{where}: {field!r} must be positive. Received {shape[field]!r}")
    return checked


def read_edits(path):
    """Parses an edit file into `Edits`; every mistake names the file and the shape."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Edit file {path} does not exist")
    try:
        with open(path) as f:
            value = json.load(f)
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"Edit file {path} is not valid JSON: {e}") from None
    source = f"edit file {path}"
    base = None
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"base", "shapes", "comment"})
        if unknown:
            raise ValueError(f"{source}: unknown key {unknown[0]!r} (use 'base' and 'shapes')")
        if "shapes" not in value:
            raise ValueError(f"{source}: missing key 'shapes' (a list of shapes)")
        base, value = value.get("base"), value["shapes"]
        if base is not None and not isinstance(base, str):
            raise ValueError(f"{source}: 'base' must be a palette spec string. Received {base!r}")
    if not isinstance(value, list):
        raise ValueError(f"{source} must hold a list of shapes or {{\"base\": …, \"shapes\": […]}}. "
                         f"Received {type(value).__name__}")
    return Edits(value, base=base, source=source)


def _centres(shape_hw, box):
    """Pixel-centre coordinates (x, y) of the pixels in `box` = (x0, y0, x1, y1), clipped."""
    height, width = shape_hw
    x0, y0, x1, y1 = box
    c0, c1 = max(0, int(np.floor(x0))), min(width, int(np.ceil(x1)) + 1)
    r0, r1 = max(0, int(np.floor(y0))), min(height, int(np.ceil(y1)) + 1)
    xs = np.arange(c0, c1) + 0.5
    ys = np.arange(r0, r1) + 0.5
    return (slice(r0, r1), slice(c0, c1)), xs[None, :], ys[:, None]


def _inside_polygon(points, x, y):
    inside = np.zeros(np.broadcast(x, y).shape, bool)
    for (xa, ya), (xb, yb) in zip(points, np.roll(points, -1, axis=0)):
        crosses = (ya > y) != (yb > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = xa + (y - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (x < x_cross)
    return inside


def _near_polyline(points, x, y, radius):
    near = np.zeros(np.broadcast(x, y).shape, bool)
    segments = zip(points, points[1:]) if len(points) > 1 else [(points[0], points[0])]
    for a, b in segments:
        d = b - a
        length2 = float(d @ d)
        t = 0.0 if length2 == 0 else np.clip(((x - a[0]) * d[0] + (y - a[1]) * d[1]) / length2, 0, 1)
        near |= (x - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 <= radius ** 2
    return near


def fill_mask(shape, palette):
    """Boolean `[H, W]`: the 4-connected region of `palette` holding pixel (x, y)'s task
    (empty when (x, y) lies outside)."""
    from scipy import ndimage

    x, y = int(np.floor(shape["x"])), int(np.floor(shape["y"]))
    height, width = palette.shape
    if not (0 <= x < width and 0 <= y < height):
        return np.zeros(palette.shape, bool)
    regions, _ = ndimage.label(palette == palette[y, x])
    return regions == regions[y, x]


def shape_mask(shape, shape_hw):
    """Boolean `[H, W]`: the pixels whose centres lie inside `shape` (a checked shape)."""
    mask = np.zeros(shape_hw, bool)
    kind = shape["shape"]
    if kind == "rectangle":
        x0, x1 = sorted((shape["x0"], shape["x1"]))
        y0, y1 = sorted((shape["y0"], shape["y1"]))
        box = (x0, y0, x1, y1)
        inside = lambda x, y: (x >= x0) & (x < x1) & (y >= y0) & (y < y1)  # noqa: E731
    elif kind == "circle":
        cx, cy, r = shape["cx"], shape["cy"], shape["r"]
        box = (cx - r, cy - r, cx + r, cy + r)
        inside = lambda x, y: (x - cx) ** 2 + (y - cy) ** 2 <= r * r  # noqa: E731
    elif kind == "polygon":
        points = shape["points"]
        box = (*points.min(axis=0), *points.max(axis=0))
        inside = lambda x, y: _inside_polygon(points, x, y)  # noqa: E731
    else:  # brush
        points, radius = shape["points"], shape["width"] / 2
        box = (*(points.min(axis=0) - radius), *(points.max(axis=0) + radius))
        inside = lambda x, y: _near_polyline(points, x, y, radius)  # noqa: E731
    window, x, y = _centres(shape_hw, box)
    if x.size and y.size:
        mask[window] = inside(x, y)
    return mask

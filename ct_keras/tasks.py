"""The five CompositeTasking tasks: ids, class names, anchors, task codes, decoding, colours.

Task ids are stable and shared by every part of the project (palettes, losses, exports):
semseg 0, parts 1, edges 2, saliency 3, normals 4.
"""

import json
import os

import numpy as np

SEMSEG, PARTS, EDGES, SALIENCY, NORMALS = 0, 1, 2, 3, 4
TASK_NAMES = ("semseg", "parts", "edges", "saliency", "normals")
NUM_TASKS = len(TASK_NAMES)
TASK_IDS = {name: i for i, name in enumerate(TASK_NAMES)}
# What a composite output holds at the pixels the palette gives to another task.
FILL_VALUES = {SEMSEG: 255, PARTS: 255, EDGES: -1.0, SALIENCY: -1.0, NORMALS: 0.0}


def task_id(task, allowed=None):
    """The one parser of a task from code or users: a name (`"edges"`), an id (`2`) or an id as
    text (`"2"`) → the int id, checked against the `allowed` ids (default all tasks). Anything
    else is a `ValueError` that lists the choices."""
    allowed = tuple(range(NUM_TASKS)) if allowed is None else tuple(int(k) for k in allowed)
    value = task
    if isinstance(task, str):
        text = task.strip()
        task = TASK_IDS.get(text, int(text) if text.lstrip("-").isdigit() else None)
    known = (isinstance(task, (int, np.integer)) and not isinstance(task, (bool, np.bool_))
             and 0 <= int(task) < NUM_TASKS)
    if known and int(task) in allowed:
        return int(task)
    choices = ", ".join(f"{k} ({TASK_NAMES[k]})" for k in allowed)
    ids = f"an id in [0, {NUM_TASKS})" if allowed == tuple(range(NUM_TASKS)) else "its id"
    what = f"Task {value!r} does not apply here" if known else f"Unknown task {value!r}"
    raise ValueError(f"{what}: `task` must be one of {choices}, by name or {ids}. Received task={value!r}")


# Standard PASCAL VOC order: the class index stored in our labels.
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
    "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
    "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
# PASCAL-Part grouped into six parts (ASTMT grouping, docs/design.md §5).
PART_CLASSES = (
    "background", "head", "torso", "upper_arms", "lower_arms", "upper_legs", "lower_legs",
)
NUM_CLASSES = {SEMSEG: len(VOC_CLASSES), PARTS: len(PART_CLASSES)}
CLASS_NAMES = {SEMSEG: VOC_CLASSES, PARTS: PART_CLASSES}

# Row order of the reference's colour maps (`colourmaps/colourmap_seg21.txt` of its
# PASCAL_MT.zip; the paper's supplementary Table 5 lists classes in this order too).
REFERENCE_SEMSEG_ORDER = (
    "background", "cat", "aeroplane", "chair", "pottedplant", "sheep", "bicycle", "cow",
    "bird", "diningtable", "sofa", "train", "boat", "dog", "bottle", "horse", "tvmonitor",
    "bus", "motorbike", "car", "person",
)
REFERENCE_PARTS_ORDER = PART_CLASSES


# The paper's supplementary Tables 5 and 6 as printed, keyed by class *name* (so the order
# of a table can never silently permute classes; Table 6's "Neck & torso" is our `torso`).
# Their columns are headed x1 x2 x3, but each row is the authors' colour-map row verbatim,
# and those files store the colours B, G, R: their code (`_load_colourmaps`) reverses every
# row before using it, both to read the RGB label PNGs and as the anchors the network's
# three output channels are trained towards. Table 5 is VOC's palette written B, G, R (cat
# `0 0 64` is VOC's cat (64, 0, 0); tested), and the paper's figures, whose class colours
# "are defined by the anchors", show VOC's colours.
PAPER_TABLE_5 = {
    "background": (0, 0, 0), "cat": (0, 0, 64), "aeroplane": (0, 0, 128), "chair": (0, 0, 192),
    "pottedplant": (0, 64, 0), "sheep": (0, 64, 128), "bicycle": (0, 128, 0), "cow": (0, 128, 64),
    "bird": (0, 128, 128), "diningtable": (0, 128, 192), "sofa": (0, 192, 0), "train": (0, 192, 128),
    "boat": (128, 0, 0), "dog": (128, 0, 64), "bottle": (128, 0, 128), "horse": (128, 0, 192),
    "tvmonitor": (128, 64, 0), "bus": (128, 128, 0), "motorbike": (128, 128, 64), "car": (128, 128, 128),
    "person": (128, 128, 192),
}
PAPER_TABLE_6 = {
    "background": (0, 0, 0), "head": (0, 0, 255), "torso": (0, 255, 0), "upper_arms": (255, 0, 0),
    "lower_arms": (0, 255, 255), "upper_legs": (255, 0, 255), "lower_legs": (255, 255, 0),
}
# Class anchors a_k in 0..255 (paper §4, eq. 5), in output-channel order: the tables' rows
# reversed, i.e. exactly what the authors' networks were trained with, so that their
# checkpoints decode right and pictures show the paper's colours.
SEMSEG_ANCHORS = {name: tuple(reversed(v)) for name, v in PAPER_TABLE_5.items()}
PARTS_ANCHORS = {name: tuple(reversed(v)) for name, v in PAPER_TABLE_6.items()}
ANCHOR_TASKS = ("semseg", "parts")


def paper_anchors():
    """The paper's anchors as a model stores them: `{"semseg": {class: [x1, x2, x3]}, "parts": …}`."""
    return check_anchors(None)


def check_anchors(anchors, source="anchors"):
    """A model's class anchors, checked, in their stored (JSON) form.

    `anchors`: `{"semseg": {class name: (x1, x2, x3)}, "parts": {…}}`, values in 0..255
    in output-channel order; `None` or a missing task means the paper's (Tables 5, 6).
    Every class of a task needs its anchor, no two classes of a task may share one.
    Returns a new plain dict of lists (ints where whole). `source` names where the
    anchors came from in errors (a file, a flag).
    """
    anchors = {} if anchors is None else anchors
    if not isinstance(anchors, dict):
        raise ValueError(f"{source}: must be a dict {{'semseg': {{class: [r, g, b]}}, 'parts': {{...}}}}. "
                         f"Received {type(anchors).__name__}")
    unknown = sorted(set(anchors) - set(ANCHOR_TASKS))
    if unknown:
        raise ValueError(f"{source}: only {ANCHOR_TASKS} have class anchors, given per task as "
                         f"{{'semseg': {{class: [r, g, b]}}, 'parts': {{...}}}}. Received keys {unknown}")
    out = {}
    for name in ANCHOR_TASKS:
        task = TASK_IDS[name]
        table = anchors.get(name)
        table = (SEMSEG_ANCHORS if task == SEMSEG else PARTS_ANCHORS) if table is None else table
        if not isinstance(table, dict):
            raise ValueError(f"{source}: {name} anchors must be a dict {{class name: [r, g, b]}}. "
                             f"Received {type(table).__name__}")
        classes = CLASS_NAMES[task]
        extra = sorted(set(table) - set(classes))
        if extra:
            raise ValueError(f"{source}: unknown {name} classes {extra}; the classes are {list(classes)}")
        missing = [c for c in classes if c not in table]
        if missing:
            raise ValueError(f"{source}: {name} anchors are missing for classes {missing}")
        out[name] = {c: _anchor_value(table[c], f"{source}: {name} class {c!r}") for c in classes}
        seen = {}
        for c, value in out[name].items():
            other = seen.setdefault(tuple(value), c)
            if other != c:
                raise ValueError(f"{source}: {name} classes {other!r} and {c!r} have the same anchor {value}")
    return out


def _anchor_value(value, where):
    try:
        values = [v for v in value]
    except TypeError:
        values = None
    if values is None or len(values) != 3 or any(
            isinstance(v, (bool, np.bool_, str)) or not isinstance(v, (int, float, np.integer, np.floating))
            for v in values):
        raise ValueError(f"{where}: an anchor is 3 numbers in 0..255. Received {value!r}")
    if not all(0 <= v <= 255 for v in values):
        raise ValueError(f"{where}: anchor values must be in 0..255. Received {list(values)}")
    return [int(v) if float(v).is_integer() else float(v) for v in values]


def anchor_matrix(task, anchors=None):
    """`[num_classes, 3]` float32 anchors in 0..1, rows in our class order.

    `anchors`: a model's anchors (`model.anchors`, see `check_anchors`); `None` → the paper's.
    """
    if task not in NUM_CLASSES:
        raise ValueError(
            f"Only semseg ({SEMSEG}) and parts ({PARTS}) have class anchors. Received task {task}"
        )
    table = check_anchors(anchors)[TASK_NAMES[task]]
    return np.array([table[n] for n in CLASS_NAMES[task]], np.float32) / 255.0


def class_colours(task, anchors=None):
    """`[num_classes, 3]` uint8 RGB picture colours of a task's classes: their anchors."""
    return np.round(anchor_matrix(task, anchors) * 255).astype(np.uint8)


def anchors_from_colourmap(path, task):
    """Reads a colour map of the reference's PASCAL_MT.zip into `{class name: (r, g, b)}`.

    The files are tab-separated, one row per class in the reference's order, with the
    channels stored as B, G, R: the reference reverses each row to match the RGB label
    PNGs, and uses the reversed rows as its anchors (its `_load_colourmaps`). The
    paper's Tables 5 and 6 print these rows unreversed; the result here, like the
    defaults `SEMSEG_ANCHORS` / `PARTS_ANCHORS`, is in output-channel order.
    """
    order = REFERENCE_SEMSEG_ORDER if task == SEMSEG else REFERENCE_PARTS_ORDER
    try:
        table = np.loadtxt(path, delimiter="\t", ndmin=2)
    except (OSError, ValueError) as e:
        raise ValueError(f"Cannot read colour map {path}: {e}") from None
    if table.shape != (len(order), 3):
        raise ValueError(
            f"Colour map {path} must have {len(order)} rows of 3 values. Received shape {table.shape}"
        )
    return {name: tuple(int(v) for v in row[::-1]) for name, row in zip(order, table)}


def read_anchors(spec):
    """Anchors for a new model from the `--anchors` flag: `"paper"` (Tables 5, 6); a JSON
    file `{"semseg": {class: [r, g, b]}, "parts": {…}}`; or the reference's colour map
    files (`colourmap_seg21.txt`, `colourmap_parts7.txt`, comma-separated; the task is
    told by the row count, 21 or 7). A task not given keeps the paper's anchors. A dict
    is checked as it is. Errors name the file.
    """
    if isinstance(spec, dict) or spec is None:
        return check_anchors(spec)
    spec = str(spec).strip()
    if spec in ("", "paper"):
        return paper_anchors()
    anchors = {}
    for path in [p.strip() for p in spec.split(",")]:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Anchors file {path} does not exist")
        if path.endswith(".json"):
            try:
                with open(path) as f:
                    value = json.load(f)
            except ValueError as e:
                raise ValueError(f"Anchors file {path} is not JSON ({e})") from None
            if not isinstance(value, dict):
                raise ValueError(f"Anchors file {path} must hold a JSON object. Received "
                                 f"{type(value).__name__}")
            new = value
        else:
            try:
                rows = len(np.loadtxt(path, delimiter="\t", ndmin=2))
            except (OSError, ValueError) as e:
                raise ValueError(f"Cannot read colour map {path}: {e}") from None
            task = {len(REFERENCE_SEMSEG_ORDER): SEMSEG, len(REFERENCE_PARTS_ORDER): PARTS}.get(rows)
            if task is None:
                raise ValueError(f"Colour map {path} must have 21 (semseg) or 7 (parts) rows. "
                                 f"Received {rows}")
            new = {TASK_NAMES[task]: anchors_from_colourmap(path, task)}
        twice = sorted(set(new) & set(anchors))
        if twice:
            raise ValueError(f"Anchors file {path} gives {twice} anchors a second time")
        checked = check_anchors(new, f"anchors file {path}")
        anchors.update({name: checked[name] for name in new})
    return check_anchors(anchors, f"anchors {spec}")


def task_codes(num_tasks=NUM_TASKS, code_length=20):
    """Task codes z_k (paper §3.2): ones in block k of length `code_length`, L2-normalised."""
    codes = np.zeros((num_tasks, num_tasks * code_length), np.float32)
    for k in range(num_tasks):
        codes[k, k * code_length:(k + 1) * code_length] = 1.0
    return codes / np.linalg.norm(codes, axis=1, keepdims=True)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def decode(raw, task, anchors=None):
    """Turns the raw `[..., 3]` network output into what a user of `task` wants.

    semseg / parts: int32 class map (nearest anchor to sigmoid(o)); edges / saliency:
    float32 probability (mean of the 3 sigmoids); normals: float32 unit vectors.
    `anchors`: the model's (`model.anchors`); `None` → the paper's.
    """
    raw = np.asarray(raw, np.float32)
    if raw.shape[-1] < 3:
        raise ValueError(f"`raw` must have at least 3 channels. Received shape {raw.shape}")
    raw = raw[..., :3]
    if task in (SEMSEG, PARTS):
        # The nearest anchor as one matrix product, the same arithmetic as the tensor
        # decoder (`ct_keras.decoding`): ‖p − a‖² = ‖p‖² − 2 p·a + ‖a‖², and ‖p‖² is common
        # to every class (29× faster than the distances themselves at 256², semseg).
        a = anchor_matrix(task, anchors)
        distance = (a * a).sum(axis=-1) - 2.0 * (_sigmoid(raw) @ a.T)
        return np.argmin(distance, axis=-1).astype(np.int32)
    if task in (EDGES, SALIENCY):
        return _sigmoid(raw).mean(axis=-1)
    if task == NORMALS:
        return raw / np.maximum(np.linalg.norm(raw, axis=-1, keepdims=True), 1e-12)
    raise ValueError(f"`task` must be in [0, {NUM_TASKS}). Received {task}")


def decode_composite(raw, palette, anchors=None):
    """Decodes every task (class maps with `anchors`, the model's) and keeps each where
    the palette asks for it.

    Returns `{task name: array}` with the pixels the palette gives to other tasks set to
    255 (class maps), -1 (probabilities) or 0 (normals).
    """
    palette = np.asarray(palette)
    out = {}
    for k, name in enumerate(TASK_NAMES):
        value = decode(raw, k, anchors)
        mask = palette == k
        fill = FILL_VALUES[k]
        if value.ndim > mask.ndim:
            mask = mask[..., None]
        out[name] = np.where(mask, value, fill)
    return out


# Colours for pictures: class maps in their anchor colours (`class_colours`, as the
# paper draws them), a fixed colour per task; VOC's palette for label files.
def voc_colours(n):
    """The PASCAL VOC colour palette: `[n, 3]` uint8, class i → its VOC colour."""
    colours = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours[i] = (r, g, b)
    return colours


TASK_COLOURS = np.array(
    [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (145, 30, 180)], np.uint8
)


def colourise(raw, palette, anchors=None):
    """An RGB uint8 picture of the composite prediction, each pixel drawn as its task:
    class maps in their anchor colours (`class_colours`), edges and saliency grey,
    normals as (n + 1) / 2."""
    palette = np.asarray(palette)
    picture = np.zeros(palette.shape + (3,), np.uint8)
    for k in range(NUM_TASKS):
        value = decode(raw, k, anchors)
        if k in (SEMSEG, PARTS):
            rgb = class_colours(k, anchors)[value]
        elif k in (EDGES, SALIENCY):
            rgb = np.repeat((value[..., None] * 255).astype(np.uint8), 3, axis=-1)
        else:
            rgb = ((value * 0.5 + 0.5) * 255).astype(np.uint8)
        picture = np.where((palette == k)[..., None], rgb, picture)
    return picture


def check_task_ids(palette, name="palette", num_tasks=NUM_TASKS):
    """The one check that an array holds task ids (tools, files, the studio, the models):
    `palette` as int32 after checking that it holds integer ids in [0, num_tasks)."""
    palette = np.asarray(palette)
    if palette.dtype.kind not in "iuf":
        raise ValueError(f"`{name}` must hold integer task ids. Received dtype {palette.dtype}")
    if palette.dtype.kind == "f" and not np.all(palette == np.round(palette)):
        raise ValueError(f"`{name}` must hold integer task ids. Received fractional values")
    if palette.size:
        low, high = palette.min(), palette.max()
        if low < 0 or high >= num_tasks:
            bad = sorted({int(v) for v in np.unique(palette) if v < 0 or v >= num_tasks})[:5]
            where = np.argwhere((palette < 0) | (palette >= num_tasks))[0]
            at = f" (first at row {where[0]}, column {where[1]})" if len(where) == 2 else ""
            raise ValueError(
                f"`{name}` must hold task ids in [0, {num_tasks}) "
                f"({', '.join(f'{k} {n}' for k, n in enumerate(TASK_NAMES[:num_tasks]))}). "
                f"Received ids {bad}{at}"
            )
    return palette.astype(np.int32)


def colourise_palette(palette):
    """An RGB uint8 picture of a Task Palette."""
    return TASK_COLOURS[check_task_ids(palette)]

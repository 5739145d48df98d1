"""The five CompositeTasking tasks: ids, class names, anchors, task codes, decoding, colours.

Task ids are stable and shared by every part of the project (palettes, losses, exports):
semseg 0, parts 1, edges 2, saliency 3, normals 4.
"""

import numpy as np

SEMSEG, PARTS, EDGES, SALIENCY, NORMALS = 0, 1, 2, 3, 4
TASK_NAMES = ("semseg", "parts", "edges", "saliency", "normals")
NUM_TASKS = len(TASK_NAMES)
TASK_IDS = {name: i for i, name in enumerate(TASK_NAMES)}
# What a composite output holds at the pixels the palette gives to another task.
FILL_VALUES = {SEMSEG: 255, PARTS: 255, EDGES: -1.0, SALIENCY: -1.0, NORMALS: 0.0}


def task_id(task, allowed=None):
    """`task` (an id or a name) as an int id, checked against the `allowed` ids (default all)."""
    allowed = range(len(TASK_NAMES)) if allowed is None else allowed
    if isinstance(task, str):
        task = TASK_IDS.get(task, task)
    if isinstance(task, (bool, np.bool_)) or not isinstance(task, (int, np.integer)) \
            or int(task) not in allowed:
        choices = ", ".join(f"{k} ({TASK_NAMES[k]})" for k in allowed)
        raise ValueError(f"`task` must be one of {choices}. Received task={task!r}")
    return int(task)

# Standard PASCAL VOC order: the class index stored in our labels.
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
    "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
    "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
# PASCAL-Part grouped into six parts (ASTMT grouping, DESIGN §5).
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


def _spread_anchors(names, levels):
    """Anchors spread uniformly over the RGB cube: grid points, background at the origin."""
    grid = [(r, g, b) for r in levels for g in levels for b in levels]
    return {name: grid[i] for i, name in enumerate(names)}


# Class anchors a_k in 0..255 (paper §4, eq. 5), keyed by class *name* so that the
# order of a table can never silently permute classes. Semseg uses 21 of the 27 points
# of the {0, 128, 255}^3 grid; parts 7 of the 8 cube corners. A model trained with the
# reference's own colour maps must be decoded with those: see `anchors_from_colourmap`.
SEMSEG_ANCHORS = _spread_anchors(REFERENCE_SEMSEG_ORDER, (0, 128, 255))
PARTS_ANCHORS = _spread_anchors(REFERENCE_PARTS_ORDER, (0, 255))


def anchor_matrix(task, anchors=None):
    """`[num_classes, 3]` float32 anchors in 0..1, rows in our class order."""
    if task not in NUM_CLASSES:
        raise ValueError(
            f"Only semseg ({SEMSEG}) and parts ({PARTS}) have class anchors. Received task {task}"
        )
    if anchors is None:
        anchors = SEMSEG_ANCHORS if task == SEMSEG else PARTS_ANCHORS
    missing = [n for n in CLASS_NAMES[task] if n not in anchors]
    if missing:
        raise ValueError(f"Anchors are missing for classes {missing}")
    return np.array([anchors[n] for n in CLASS_NAMES[task]], np.float32) / 255.0


def anchors_from_colourmap(path, task):
    """Reads a colour map of the reference's PASCAL_MT.zip into `{class name: (r, g, b)}`.

    The files are tab-separated, one row per class in the reference's order, with the
    channels stored as B, G, R.
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
    """
    raw = np.asarray(raw, np.float32)
    if raw.shape[-1] < 3:
        raise ValueError(f"`raw` must have at least 3 channels. Received shape {raw.shape}")
    raw = raw[..., :3]
    if task in (SEMSEG, PARTS):
        a = anchor_matrix(task, anchors)
        d = np.linalg.norm(_sigmoid(raw)[..., None, :] - a, axis=-1)
        return np.argmin(d, axis=-1).astype(np.int32)
    if task in (EDGES, SALIENCY):
        return _sigmoid(raw).mean(axis=-1)
    if task == NORMALS:
        return raw / np.maximum(np.linalg.norm(raw, axis=-1, keepdims=True), 1e-12)
    raise ValueError(f"`task` must be in [0, {NUM_TASKS}). Received {task}")


def decode_composite(raw, palette, anchors=None):
    """Decodes every task and keeps each where the palette asks for it.

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


# Colours for pictures: VOC's own palette for class maps, a fixed colour per task.
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
    """An RGB uint8 picture of the composite prediction, each pixel drawn as its task."""
    palette = np.asarray(palette)
    picture = np.zeros(palette.shape + (3,), np.uint8)
    for k in range(NUM_TASKS):
        value = decode(raw, k, anchors)
        if k in (SEMSEG, PARTS):
            rgb = voc_colours(NUM_CLASSES[k])[value]
        elif k in (EDGES, SALIENCY):
            rgb = np.repeat((value[..., None] * 255).astype(np.uint8), 3, axis=-1)
        else:
            rgb = ((value * 0.5 + 0.5) * 255).astype(np.uint8)
        picture = np.where((palette == k)[..., None], rgb, picture)
    return picture


def colourise_palette(palette):
    """An RGB uint8 picture of a Task Palette."""
    palette = np.asarray(palette)
    if palette.size and (palette.min() < 0 or palette.max() >= NUM_TASKS):
        raise ValueError(
            f"`palette` must hold task ids in [0, {NUM_TASKS}). "
            f"Received ids in [{palette.min()}, {palette.max()}]"
        )
    return TASK_COLOURS[palette]

"""Task Palettes and semseg labels as files.

A palette file is a `.npy` array of task ids, or a picture (PNG, BMP, TIFF, …):
    mode L, I, I;16   each pixel's value is its task id (0–4)
    mode P            the colour index is the task id, unless every colour used is a
                      legend colour, then the colour says the task (what `write_palette_png`
                      writes satisfies both)
    RGB, RGBA         painted in the task legend colours (`LEGEND`); alpha is ignored
A semseg label (rules R2, R3) is a picture of VOC class ids (0–20, 255 void) or a `.npy`.
"""

import os

import numpy as np

from ct_keras.tasks import check_task_ids
from ct_keras.tasks import TASK_COLOURS, TASK_NAMES

# The legend: one colour per task (`tasks.TASK_COLOURS`), the colours of painted palettes.
LEGEND = {name: tuple(int(c) for c in TASK_COLOURS[k]) for k, name in enumerate(TASK_NAMES)}
LEGEND_TEXT = ", ".join(f"{name} {'#%02x%02x%02x' % rgb} {rgb}" for name, rgb in LEGEND.items())
ARRAY_SUFFIXES = (".npy",)
IMAGE_SUFFIXES = (".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
ID_MODES = ("L", "LA", "I", "I;16", "I;16B", "I;16L")


def _code(rgb):
    rgb = np.asarray(rgb, np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def ids_from_colours(rgb, name="palette"):
    """`[H, W, 3]` legend colours → `[H, W]` task ids; any other colour is an error."""
    rgb = np.asarray(rgb)[..., :3]
    codes = _code(rgb)
    legend = _code(TASK_COLOURS)
    ids = np.full(codes.shape, -1, np.int32)
    for k, code in enumerate(legend):
        ids[codes == code] = k
    unknown = ids < 0
    if unknown.any():
        row, col = np.argwhere(unknown)[0]
        colours = {tuple(int(c) for c in v) for v in rgb[unknown][:100000]}
        shown = ", ".join(str(c) for c in sorted(colours)[:5])
        raise ValueError(
            f"{name}: {int(unknown.sum())} pixels have colours that are not task legend colours "
            f"({shown}{', …' if len(colours) > 5 else ''}; first at row {row}, column {col}). "
            f"Legend: {LEGEND_TEXT}")
    return ids


def _read_picture(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValueError(f"Cannot read {path}: {e}") from None


def _exists(path, what):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} file {path} does not exist")


def read_palette_file(path):
    """The task ids `[H, W]` int32 of a palette file (see the module docstring)."""
    _exists(path, "Palette")
    name = f"palette file {path}"
    if path.lower().endswith(ARRAY_SUFFIXES):
        try:
            palette = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"Cannot read {name}: {e}") from None
    else:
        image = _read_picture(path)
        if image.mode == "P":
            used = np.unique(np.asarray(image))
            colours = np.asarray(image.getpalette() or [], np.int64).reshape(-1, 3)
            if used.max() < len(colours) and np.isin(_code(colours[used]), _code(TASK_COLOURS)).all():
                palette = ids_from_colours(np.asarray(image.convert("RGB")), name)
            else:
                palette = np.asarray(image)
        elif image.mode in ID_MODES:
            palette = np.asarray(image.getchannel(0) if image.mode == "LA" else image)
        elif image.mode in ("RGB", "RGBA"):
            palette = ids_from_colours(np.asarray(image.convert("RGB")), name)
        else:
            raise ValueError(
                f"{name} has mode {image.mode}: use task ids (mode L or P) or the legend colours (RGB)")
    if palette.ndim != 2:
        raise ValueError(f"{name} must be a 2-D map of task ids. Received shape {list(palette.shape)}")
    return check_task_ids(palette, name=name)


def read_label(path):
    """A semseg label `[H, W]` int32 of VOC class ids (255 void) from a picture or `.npy`."""
    _exists(path, "Label")
    if path.lower().endswith(ARRAY_SUFFIXES):
        label = np.load(path, allow_pickle=False)
    else:
        image = _read_picture(path)
        if image.mode not in ("L", "P", "I", "I;16"):
            raise ValueError(
                f"Label file {path} must hold class ids (mode L or P). Received mode {image.mode}")
        label = np.asarray(image)
    label = np.asarray(label)
    if label.ndim != 2 or label.dtype.kind not in "iu":
        raise ValueError(f"Label file {path} must be a 2-D map of integer class ids. "
                         f"Received shape {list(label.shape)}, dtype {label.dtype}")
    bad = np.unique(label[(label < 0) | ((label > 20) & (label != 255))])
    if bad.size:
        raise ValueError(f"Label file {path} holds values {bad[:5].tolist()} that are not VOC "
                         "class ids (0–20, 255 void)")
    return label.astype(np.int32)


def write_palette_png(palette, path):
    """Writes task ids as a mode-P PNG: index = task id, colour = its legend colour.
    `path` may also be a binary file object (the palette studio's downloads)."""
    from PIL import Image

    palette = check_task_ids(palette)
    image = Image.fromarray(palette.astype(np.uint8), mode="P")
    image.putpalette([int(c) for c in TASK_COLOURS.ravel()])
    if isinstance(path, (str, os.PathLike)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    image.save(path, format="PNG")
    return path

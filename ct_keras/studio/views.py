"""What the page shows and downloads: PNGs of the palette, the composite prediction and one
view per task, the legend, and the files of tools/predict.py (npz, figure, edit file)."""

import base64
import io

import numpy as np

from ct_keras.deploy.pictures import composite_picture
from ct_keras.inference.figure import editing_figure, legend_items, prediction_figure
from ct_keras.palettes.files import write_palette_png
from ct_keras.palettes.resize import resize_nearest
from ct_keras.tasks import EDGES, NORMALS, PARTS, SALIENCY, SEMSEG, TASK_NAMES

PREDICTION_SIDE, VIEW_SIDE = 768, 256  # the page shows them at most 384 and 136 px wide
VIEW_TITLES = {SEMSEG: "semseg: classes", PARTS: "parts: classes", EDGES: "edges: probability",
               SALIENCY: "saliency: probability", NORMALS: "normals: RGB = (n + 1) / 2"}


def png_bytes(picture, fast=True):
    """PNG bytes of an RGB uint8 picture (`fast`: light compression, for the live view)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(picture, np.uint8)).save(buffer, format="PNG",
                                                        compress_level=1 if fast else 6)
    return buffer.getvalue()


def palette_png_bytes(palette):
    """The palette as the mode-P PNG of `write_palette_png` (ids and legend colours)."""
    buffer = io.BytesIO()
    write_palette_png(palette, buffer)
    return buffer.getvalue()


def data_url(data, kind="png"):
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def shown(picture, side):
    """A live picture as the page shows it: at most `side` pixels long (nearest), as BMP,
    which costs well under a millisecond to write where even a light PNG costs ~20 ms."""
    from PIL import Image

    height, width = picture.shape[:2]
    scale = min(1.0, side / max(height, width))
    if scale < 1:
        picture = resize_nearest(picture, (max(1, round(height * scale)), max(1, round(width * scale))))
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture, np.uint8)).save(buffer, format="BMP")
    return data_url(buffer.getvalue(), "bmp")


def task_views(image, palette, composite):
    """`{task id: picture}`: each task's prediction where the palette asks for it, over the
    faded image elsewhere (`composite`: the composite picture)."""
    palette = np.asarray(palette)
    faded = (np.asarray(image, np.uint16) * 9 // 25 + 163).astype(np.uint8)  # 35 % image, 65 % white
    return {int(k): np.where((palette == k)[..., None], composite, faded) for k in np.unique(palette)}


def live_views(image, palette, outputs, anchors=None):
    """The JSON the page redraws after a stroke: palette, composite, per-task views, legend
    (classes in the colours of the model's `anchors`; None: the paper's)."""
    composite = composite_picture(outputs, palette, anchors)
    return {
        "palette": data_url(palette_png_bytes(palette)),
        "prediction": shown(composite, PREDICTION_SIDE),
        "views": [{"task": TASK_NAMES[k], "title": VIEW_TITLES[k],
                   "share": float(np.mean(palette == k)),
                   "picture": shown(view, VIEW_SIDE)}
                  for k, view in task_views(image, palette, composite).items()],
        "legend": [{"heading": heading, "entries": [{"colour": list(c), "label": label}
                                                    for c, label in entries]}
                   for heading, entries in legend_items([palette], [outputs], anchors)],
    }


def npz_bytes(palette, outputs):
    """The npz of tools/predict.py: `palette` and one array per task it asks for."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, palette=palette, **outputs)
    return buffer.getvalue()


def figure_png(image, palette, outputs, base_palette=None, base_outputs=None, anchors=None):
    """The figure of tools/predict.py: paper Fig. 8, or Fig. 9 (before / after) when edited."""
    if base_palette is None or np.array_equal(base_palette, palette):
        picture = prediction_figure(image, palette, outputs, anchors)
    else:
        picture = editing_figure(image, base_palette, base_outputs, palette, outputs, anchors)
    return png_bytes(picture, fast=False)

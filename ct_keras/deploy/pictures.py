"""Pictures of an export's decoded outputs (numpy only: the on-device demo uses it)."""

import os

import numpy as np

from ct_keras.tasks import (
    EDGES, NUM_CLASSES, NUM_TASKS, PARTS, SALIENCY, SEMSEG, TASK_NAMES,
    class_colours, colourise_palette,
)


def composite_picture(outputs, palette, anchors=None):
    """RGB uint8 `[H, W, 3]` of one image's decoded outputs, each pixel drawn as its task.

    Args:
        outputs: `{"semseg": [H, W] int, "parts": …, "edges": [H, W] float,
            "saliency": …, "normals": [H, W, 3]}` of one image (an export's outputs).
        palette: `[H, W]` task ids.
        anchors: the export's class anchors (its info's `"anchors"`): the colours of
            class maps; `None` → the paper's.
    """
    palette = np.asarray(palette)
    picture = np.zeros(palette.shape + (3,), np.uint8)
    for k in range(NUM_TASKS):
        mask = palette == k
        if not mask.any():
            continue
        value = np.asarray(outputs[TASK_NAMES[k]])
        if k in (SEMSEG, PARTS):
            colours = np.zeros((256, 3), np.uint8)  # ids outside the classes (255) black
            colours[:NUM_CLASSES[k]] = class_colours(k, anchors)
            rgb = colours[np.clip(value, 0, 255).astype(np.int64)]
        elif k in (EDGES, SALIENCY):
            rgb = np.repeat((np.clip(value, 0, 1)[..., None] * 255).astype(np.uint8), 3, axis=-1)
        else:  # NORMALS
            rgb = ((np.clip(value, -1, 1) * 0.5 + 0.5) * 255).astype(np.uint8)
        picture[mask] = rgb[mask]
    return picture


def demo_strip(image, palette, outputs, anchors=None):
    """image | Task Palette | composite prediction, side by side (uint8)."""
    return np.concatenate([np.asarray(image, np.uint8), colourise_palette(palette),
                           composite_picture(outputs, palette, anchors)], axis=1)


def save_png(picture, path):
    """Writes an RGB uint8 picture as PNG (making its folder); returns `path`."""
    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(picture).save(path)
    return path

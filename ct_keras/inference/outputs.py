"""A prediction brought back to the image's own size, per task (numpy and PIL).

Decoded at the model's size (`tasks.decode`), then resized: class maps nearest,
probabilities bilinear, normals bilinear and renormalised. Pixels the palette gives to
another task are filled as `tasks.decode_composite` fills them.
"""

import numpy as np

from ct_keras.palettes.resize import resize_nearest
from ct_keras.tasks import FILL_VALUES, NORMALS, PARTS, SEMSEG, TASK_NAMES, decode


def resize_bilinear(array, image_hw):
    """Float `[h, w]` or `[h, w, C]` resized bilinearly (PIL, per channel) to `image_hw`."""
    from PIL import Image

    array = np.asarray(array, np.float32)
    height, width = (int(s) for s in image_hw)
    if array.shape[:2] == (height, width):
        return array
    channels = array[..., None] if array.ndim == 2 else array
    resized = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(channels[..., c]), mode="F")
                                   .resize((width, height), Image.BILINEAR))
                        for c in range(channels.shape[-1])], axis=-1)
    return resized[..., 0] if array.ndim == 2 else resized


def task_at_size(raw, task, image_hw, anchors=None):
    """Task `task` of one raw output `[h, w, C]`, decoded and resized to `image_hw`."""
    value = decode(raw, task, anchors)
    if task in (SEMSEG, PARTS):
        return resize_nearest(value, image_hw).astype(np.int32)
    value = resize_bilinear(value, image_hw)
    if task == NORMALS:
        value = value / np.maximum(np.linalg.norm(value, axis=-1, keepdims=True), 1e-12)
    return value.astype(np.float32)


def outputs_at_size(raw, palette, anchors=None):
    """`{task name: array at the palette's size}` for each task the palette `[H, W]` asks for.

    semseg / parts: int32 class ids (255 elsewhere); edges / saliency: float32
    probabilities (-1 elsewhere); normals: float32 unit vectors `[H, W, 3]` (0 elsewhere).
    """
    palette = np.asarray(palette)
    outputs = {}
    for task in np.unique(palette):
        task = int(task)
        value = task_at_size(raw, task, palette.shape, anchors)
        mask = palette == task
        outputs[TASK_NAMES[task]] = np.where(mask[..., None] if value.ndim == 3 else mask,
                                             value, np.asarray(FILL_VALUES[task], value.dtype))
    return outputs

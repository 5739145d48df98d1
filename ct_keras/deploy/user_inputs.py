"""Images and Task Palettes from users, checked before they reach a model (numpy only).

TFLite has no asserts, so whatever runs a `.tflite` model (the on-device demo) checks
its inputs here; the serving client does too, to fail before a request is sent. None of
this imports TensorFlow.
"""

import json
import os

import numpy as np

from ct_keras.tasks import NUM_TASKS, TASK_IDS, TASK_NAMES

# Written next to each SavedModel export (TF Serving ignores `assets.extra/`).
EXPORT_INFO = os.path.join("assets.extra", "ct_keras_export.json")
TFLITE_INFO = "ct_keras_export.json"  # the same, next to an export's .tflite files
PALETTE_SPEC_HELP = (
    "a task name or id (the whole image); 'quadrants' (semseg, parts above saliency, normals) "
    "or 'quadrants:T1,T2,T3,T4' (top-left, top-right, bottom-left, bottom-right); "
    "'halves' (semseg | normals) or 'halves:T1,T2'; or a .png / .npy file of task ids"
)


def task_from_name(value):
    """`"edges"` or `"2"` or `2` → 2; anything else is a `ValueError` listing the tasks."""
    text = str(value).strip()
    if text in TASK_IDS:
        return TASK_IDS[text]
    if text.lstrip("-").isdigit():
        task = int(text)
        if 0 <= task < NUM_TASKS:
            return task
    raise ValueError(
        f"Unknown task {value!r}: use one of {list(TASK_NAMES)} or an id in [0, {NUM_TASKS})"
    )


def load_image(path):
    """An RGB uint8 `[H, W, 3]` array from an image file (any format PIL reads)."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image file {path} does not exist")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"Cannot read image {path}: {e}") from None


def check_image(image, image_hw, name="image"):
    """Checks an `[H, W, 3]` or `[B, H, W, 3]` image against the model's size."""
    image = np.asarray(image)
    height, width = image_hw
    if image.ndim not in (3, 4) or image.shape[-3:] != (height, width, 3):
        raise ValueError(
            f"`{name}` must be {height}x{width} RGB (the size the model was exported at). "
            f"Received shape {list(image.shape)}; resize it first (e.g. --resize in the tools)"
        )
    return image


def resize_image(image, image_hw):
    """Bicubic resize of an RGB uint8 `[H, W, 3]` image to `image_hw` (as the data pipeline)."""
    from PIL import Image

    height, width = image_hw
    return np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize((width, height), Image.BICUBIC))


def check_palette(palette, image_hw, num_tasks=NUM_TASKS, name="palette"):
    """Checks an `[H, W]` or `[B, H, W]` Task Palette: its size and that every id is a task."""
    palette = np.asarray(palette)
    height, width = image_hw
    if palette.ndim not in (2, 3) or palette.shape[-2:] != (height, width):
        raise ValueError(
            f"`{name}` must be {height}x{width} task ids to match the image. "
            f"Received shape {list(palette.shape)}"
        )
    if palette.dtype.kind not in "iuf":
        raise ValueError(f"`{name}` must hold integer task ids. Received dtype {palette.dtype}")
    if palette.dtype.kind == "f" and not np.all(palette == np.round(palette)):
        raise ValueError(f"`{name}` must hold integer task ids. Received fractional values")
    if palette.size:
        low, high = palette.min(), palette.max()
        if low < 0 or high >= num_tasks:
            bad = sorted({int(v) for v in np.unique(palette) if v < 0 or v >= num_tasks})[:5]
            raise ValueError(
                f"`{name}` must hold task ids in [0, {num_tasks}) "
                f"({', '.join(f'{k} {n}' for k, n in enumerate(TASK_NAMES[:num_tasks]))}). "
                f"Received ids {bad}"
            )
    return palette.astype(np.int32)


def _tasks_list(text, count, default):
    if not text:
        return list(default)
    tasks = [task_from_name(t) for t in text.split(",")]
    if len(tasks) != count:
        raise ValueError(f"Expected {count} tasks separated by commas. Received {text!r}")
    return tasks


def parse_palette(spec, image_hw):
    """A Task Palette `[H, W]` int32 from a command-line spec (see `PALETTE_SPEC_HELP`)."""
    height, width = image_hw
    spec = str(spec).strip()
    kind, _, rest = spec.partition(":")
    if kind == "quadrants":
        tl, tr, bl, br = _tasks_list(rest, 4, (TASK_IDS["semseg"], TASK_IDS["parts"],
                                               TASK_IDS["saliency"], TASK_IDS["normals"]))
        palette = np.empty((height, width), np.int32)
        h, w = height // 2, width // 2
        palette[:h, :w], palette[:h, w:], palette[h:, :w], palette[h:, w:] = tl, tr, bl, br
        return palette
    if kind == "halves":
        left, right = _tasks_list(rest, 2, (TASK_IDS["semseg"], TASK_IDS["normals"]))
        palette = np.full((height, width), left, np.int32)
        palette[:, width // 2:] = right
        return palette
    if spec.endswith((".png", ".npy")):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"Palette file {spec} does not exist")
        if spec.endswith(".npy"):
            palette = np.load(spec, allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(spec) as image:
                if image.mode not in ("L", "P", "I", "I;16"):
                    raise ValueError(
                        f"Palette image {spec} must be single-channel task ids (mode L or P). "
                        f"Received mode {image.mode}"
                    )
                palette = np.asarray(image)
        return check_palette(palette, image_hw, name=f"palette file {spec}")
    if spec in TASK_IDS or spec.lstrip("-").isdigit():
        return np.full((height, width), task_from_name(spec), np.int32)
    raise ValueError(f"Cannot read the palette {spec!r}: use {PALETTE_SPEC_HELP}")


def read_export_info(saved_model_dir):
    """What `export_saved_model` recorded about an export: image size, task names, …"""
    path = os.path.join(saved_model_dir, EXPORT_INFO)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {saved_model_dir} is not a ct_keras export")
    with open(path) as f:
        return json.load(f)


def read_tflite_info(tflite_path):
    """The export info written next to a `.tflite` file (anchors, config), or None if absent."""
    path = os.path.join(os.path.dirname(os.path.abspath(tflite_path)), TFLITE_INFO)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise ValueError(f"{path} is not a ct_keras export info file ({e})") from None

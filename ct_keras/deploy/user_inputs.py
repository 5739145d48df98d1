"""Images and Task Palettes from users, checked before they reach a model (numpy only).

TFLite has no asserts, so whatever runs a `.tflite` model (the on-device demo) checks
its inputs here; the serving client does too, to fail before a request is sent. None of
this imports TensorFlow.
"""

import json
import os

import numpy as np

from ct_keras.tasks import check_task_ids, task_id  # noqa: F401 (re-exported)
from ct_keras.palettes.specs import SPEC_HELP, palette_from_spec
from ct_keras.tasks import NUM_TASKS

# Written next to each SavedModel export (TF Serving ignores `assets.extra/`).
EXPORT_INFO = os.path.join("assets.extra", "ct_keras_export.json")
TFLITE_INFO = "ct_keras_export.json"  # the same, next to an export's .tflite files
PALETTE_SPEC_HELP = SPEC_HELP
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")


def _rgb(image):
    """RGB uint8 of a PIL image in any mode: 16-bit scaled to 8, transparency over white."""
    from PIL import Image

    if image.mode in SIXTEEN_BIT_MODES:
        grey = np.asarray(image).astype(np.float64) / 257.0
        grey = np.clip(np.round(grey), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def load_image(path):
    """An RGB uint8 `[H, W, 3]` array from an image file (any format PIL reads).

    The EXIF orientation is applied (a phone's portrait photo comes out upright);
    grey, palette-mode and 16-bit pictures become RGB (16-bit scaled to 8 bits), and
    transparent pixels are drawn over white.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image file {path} does not exist")
    try:
        with Image.open(path) as image:
            return _rgb(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
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
    return check_task_ids(palette, name, num_tasks)


def parse_palette(spec, image_hw, **kwargs):
    """A Task Palette `[H, W]` int32 from a palette spec (`ct_keras.palettes.specs`)."""
    return palette_from_spec(spec, image_hw, **kwargs)


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

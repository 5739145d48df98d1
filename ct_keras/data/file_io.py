"""Readers for the file formats of PASCAL-MT; every failure names the file."""

import numpy as np
import scipy.io
from PIL import Image

import cv2

from ct_keras.data.errors import BadSampleError


def read_jpeg(path):
    """An RGB `uint8 [H, W, 3]` image."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise BadSampleError(path, f"Cannot read image ({e.strerror})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise BadSampleError(path, "Cannot decode image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _open_png(path):
    try:
        image = Image.open(path)
        image.load()
        return image
    except (OSError, SyntaxError, ValueError) as e:
        raise BadSampleError(path, f"Cannot decode PNG ({e})") from None


def read_index_png(path):
    """A class-index PNG (mode P or L, as VOC and ASTMT store them) as `uint8 [H, W]`.

    A palette PNG must not be converted to RGB: its pixel values are the class ids.
    """
    image = _open_png(path)
    if image.mode not in ("P", "L"):
        raise BadSampleError(
            path, f"Expected a class-index PNG (mode P or L). Received mode {image.mode}"
        )
    return np.array(image, np.uint8)


def read_rgb_png(path):
    """`uint8 [H, W, 3]` in R, G, B order."""
    return np.array(_open_png(path).convert("RGB"), np.uint8)


def read_gray_png(path):
    """`uint8 [H, W]`; an RGB file is converted to luminance."""
    return np.array(_open_png(path).convert("L"), np.uint8)


def load_mat(path, key):
    """`scipy.io.loadmat(path)[key]`, with the file named in every failure."""
    try:
        content = scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError, NotImplementedError, scipy.io.matlab.MatReadError) as e:
        raise BadSampleError(path, f"Cannot read .mat file ({e})") from None
    if key not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise BadSampleError(path, f"Expected variable `{key}`. Received variables {found}")
    return content[key]


def resize_nearest(label, height, width):
    """Brings a label to the image's size, like ASTMT does when the two disagree."""
    if label.shape[:2] == (height, width):
        return label
    return cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST)

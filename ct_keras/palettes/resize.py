"""Nearest-neighbour resizing of id maps (palettes, labels, class maps), numpy only."""

import warnings

import numpy as np


def resize_nearest(array, image_hw):
    """`array` `[h, w, ...]` resized to `image_hw` by nearest neighbour (pixel centres)."""
    array = np.asarray(array)
    height, width = (int(s) for s in image_hw)
    h, w = array.shape[:2]
    if (h, w) == (height, width):
        return array
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return array[rows][:, cols]


def fit_to_image(array, image_hw, what):
    """`array` at `image_hw`: resized nearest, with a warning naming `what`, if it is not."""
    array = np.asarray(array)
    height, width = (int(s) for s in image_hw)
    if array.shape[:2] != (height, width):
        warnings.warn(
            f"{what} is {array.shape[0]}x{array.shape[1]}, the image {height}x{width}: "
            "resized (nearest)", stacklevel=3)
        array = resize_nearest(array, image_hw)
    return array

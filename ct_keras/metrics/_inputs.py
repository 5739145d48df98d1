"""Argument and input checks shared by the task metrics."""

import numpy as np
import tensorflow as tf



def prepare(y_true, y_pred, sample_weight, channels=None):
    """Converts the inputs of `update_state` and returns `(y_true, y_pred, selected)`.

    `y_true` and `y_pred` must be `[B, H, W]` maps, or `[B, H, W, channels]` when
    `channels` is given; `sample_weight` is the `[B, H, W]` Task Palette selection
    (non-zero = selected), all pixels when `None`. Static shapes are checked here so
    that a wrong input fails with a clear message rather than inside a TF kernel.
    """
    y_true = tf.convert_to_tensor(y_true)
    y_pred = tf.convert_to_tensor(y_pred)
    rank = 3 if channels is None else 4
    expected = "[B, H, W]" if channels is None else f"[B, H, W, {channels}]"
    for arg, value in (("y_true", y_true), ("y_pred", y_pred)):
        shape = value.shape
        if shape.rank is not None and (
            shape.rank != rank or (channels is not None and shape[-1] not in (None, channels))
        ):
            raise ValueError(f"`{arg}` must have shape {expected}. Received shape {shape}")
    if not y_true.shape.is_compatible_with(y_pred.shape):
        raise ValueError(
            "`y_true` and `y_pred` must have the same shape. "
            f"Received {y_true.shape} and {y_pred.shape}"
        )
    if sample_weight is None:
        return y_true, y_pred, tf.ones(tf.shape(y_true)[:3], tf.bool)
    sample_weight = tf.convert_to_tensor(sample_weight)
    if not sample_weight.shape.is_compatible_with(y_true.shape[:3]):
        raise ValueError(
            "`sample_weight` must be the [B, H, W] selection mask of this task, matching "
            f"`y_true` {y_true.shape[:3]}. Received shape {sample_weight.shape}"
        )
    return y_true, y_pred, tf.cast(sample_weight, tf.bool)


def check_thresholds(thresholds, arg="thresholds"):
    """A sorted 1-D float64 array of thresholds in [0, 1]."""
    values = np.asarray(thresholds, np.float64)
    if values.ndim != 1 or values.size == 0 or np.any((values < 0) | (values > 1)):
        raise ValueError(
            f"`{arg}` must be a non-empty 1-D list of values in [0, 1]. Received {thresholds!r}"
        )
    return np.sort(values)

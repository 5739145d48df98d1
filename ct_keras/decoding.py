"""The one decoder of raw network outputs, as TensorFlow ops: for metrics, training's
validation, exports (TFLite builtins only, no Keras) and pictures. `tasks.decode` is its
numpy twin (the same arithmetic) for code that holds numpy arrays."""

import tensorflow as tf

from ct_keras.tasks import (
    EDGES, NORMALS, NUM_TASKS, PARTS, SALIENCY, SEMSEG, TASK_NAMES, anchor_matrix,
)


def decode_tensor(raw, task, anchors=None):
    """Raw `[..., C≥3]` output → what `task` wants.

    semseg / parts: int32 class map (the anchor nearest to sigmoid(o)); edges / saliency:
    float32 probability (mean of the 3 sigmoids); normals: float32 unit vectors.
    `anchors`: the model's (`model.anchors`); `None` → the paper's.
    """
    raw = tf.cast(raw[..., :3], tf.float32)
    if task in (SEMSEG, PARTS):
        anchors = tf.constant(anchor_matrix(task, anchors))
        p = tf.sigmoid(raw)
        # argmin ‖p − a‖² = argmin (‖a‖² − 2 p·a): the ‖p‖² term is common to all classes.
        distance = tf.reduce_sum(anchors * anchors, axis=-1) - 2.0 * tf.tensordot(p, anchors, [[-1], [1]])
        return tf.argmin(distance, axis=-1, output_type=tf.int32)
    if task in (EDGES, SALIENCY):
        return tf.reduce_mean(tf.sigmoid(raw), axis=-1)
    if task == NORMALS:
        # = raw / max(‖raw‖, 1e-12); one L2_NORMALIZATION op in TFLite (int8 kernel too).
        return tf.math.l2_normalize(raw, axis=-1, epsilon=1e-24)
    raise ValueError(f"`task` must be in [0, {NUM_TASKS}). Received {task}")


def decode_all(raw, anchors=None):
    """`{task name: decode_tensor(raw, k, anchors)}` for every task."""
    return {name: decode_tensor(raw, k, anchors) for k, name in enumerate(TASK_NAMES)}

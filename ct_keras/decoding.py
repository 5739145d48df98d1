"""`tasks.decode` as tensor ops: for graphs (evaluation, exports) rather than numpy."""

from keras import ops

from ct_keras.tasks import (
    EDGES, NORMALS, NUM_TASKS, PARTS, SALIENCY, SEMSEG, TASK_NAMES, anchor_matrix,
)


def decode_tensor(raw, task, anchors=None):
    """Raw `[..., C≥3]` output → what `task` wants, as `tasks.decode` does.

    semseg / parts: int32 class map (anchor nearest to sigmoid(o)); edges / saliency:
    float32 probability (mean of the 3 sigmoids); normals: float32 unit vectors.
    `anchors`: the model's (`model.anchors`); `None` → the paper's.
    """
    raw = ops.cast(raw[..., :3], "float32")
    if task in (SEMSEG, PARTS):
        a = ops.convert_to_tensor(anchor_matrix(task, anchors))
        p = ops.sigmoid(raw)
        # ‖p − a‖² = ‖p‖² − 2 p·a + ‖a‖²; the ‖p‖² term does not change the argmin.
        d = ops.sum(a * a, axis=-1) - 2.0 * ops.einsum("...c,kc->...k", p, a)
        return ops.cast(ops.argmin(d, axis=-1), "int32")
    if task in (EDGES, SALIENCY):
        return ops.mean(ops.sigmoid(raw), axis=-1)
    if task == NORMALS:
        norm = ops.sqrt(ops.sum(raw * raw, axis=-1, keepdims=True))
        return raw / ops.maximum(norm, 1e-12)
    raise ValueError(f"`task` must be in [0, {NUM_TASKS}). Received {task}")


def decode_all(raw, anchors=None):
    """`{task name: decode_tensor(raw, k, anchors)}` for every task."""
    return {name: decode_tensor(raw, k, anchors) for k, name in enumerate(TASK_NAMES)}

"""Semseg and parts: the raw output is a colour; classes are anchor colours (paper eq. 5)."""

import numpy as np
from keras import ops

from ct_keras.losses.masked_mean import masked_mean

def quasi_logits(raw, anchors):
    """`1 / (‖sigmoid(raw) − a_k‖₂ + 1e-8)` for every anchor: `[..., num_classes]`.

    Args:
        raw: `[..., 3]` raw network output.
        anchors: `[num_classes, 3]` anchors in 0..1 (`tasks.anchor_matrix`).
    """
    p = ops.sigmoid(ops.cast(raw[..., :3], "float32"))
    a = ops.convert_to_tensor(anchors, "float32")
    d = ops.sqrt(ops.sum(ops.square(p[..., None, :] - a), axis=-1))
    return 1.0 / (d + 1e-8)


def anchor_focal_loss(raw, labels, anchors, mask=None, gamma=2.0):
    """Focal loss (γ) on the softmax of the quasi-logits, mean over selected valid pixels.

    Args:
        raw: `[B, H, W, C]` raw output.
        labels: int `[B, H, W]` class ids, 255 = void (not counted).
        anchors: `[num_classes, 3]` anchors in 0..1.
        mask: `[B, H, W]` pixels the palette gives to this task (default all).
        gamma: focusing parameter; 0 is plain cross-entropy.
    """
    anchors = np.asarray(anchors, np.float32)
    num_classes = anchors.shape[0]
    labels = ops.cast(labels, "int32")
    valid = ops.logical_and(labels >= 0, labels < num_classes)
    if mask is not None:
        valid = ops.logical_and(valid, ops.cast(mask, "bool"))
    log_p = ops.log_softmax(quasi_logits(raw, anchors), axis=-1)
    one_hot = ops.one_hot(ops.where(valid, labels, 0), num_classes)
    log_pt = ops.sum(log_p * one_hot, axis=-1)
    if gamma:
        # The reference adds 1e-8 to p_t before the log: the same up to 1e-8.
        pt = ops.exp(log_pt)
        loss = -ops.power(1.0 - pt, gamma) * log_pt
    else:
        loss = -log_pt
    return masked_mean(loss, valid)

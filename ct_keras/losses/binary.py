"""Edges and saliency: per-channel binary cross-entropy with logits on the raw output."""

from keras import ops

from ct_keras.losses.masked_mean import masked_mean
from ct_keras.losses.replicas import global_sum


def _bce_terms(raw, labels):
    """−log σ(o) and −log(1−σ(o)) per channel, stable; labels broadcast to the channels."""
    raw = ops.cast(raw[..., :3], "float32")
    positive = ops.softplus(-raw)
    negative = ops.softplus(raw)
    labels = ops.cast(ops.cast(labels, "float32") >= 0.5, "float32")[..., None]
    return positive, negative, labels


def weighted_bce(raw, labels, mask=None, positive_weight=0.95):
    """`w·y·(−log σ) + (1−w)·(1−y)·(−log(1−σ))`, mean over selected pixels and channels.

    The edges loss (docs/design.md §3: w = 0.95 for the rare edge pixels).
    """
    positive, negative, y = _bce_terms(raw, labels)
    loss = positive_weight * y * positive + (1.0 - positive_weight) * (1.0 - y) * negative
    return _mean_over_selected(loss, labels, mask)


def balanced_bce(raw, labels, mask=None):
    """BCE with w = (N_neg + 1) / (N + 2) counted over the selected pixels of the (global) batch.

    The saliency loss (docs/design.md §3): positives weigh the share of negatives.
    """
    positive, negative, y = _bce_terms(raw, labels)
    selected = _selection(labels, mask)
    n_pos = global_sum(ops.sum(selected * y[..., 0]))  # the global batch's counts
    n_all = global_sum(ops.sum(selected))
    w = (n_all - n_pos + 1.0) / (n_all + 2.0)
    loss = w * y * positive + (1.0 - w) * (1.0 - y) * negative
    return _mean_over_selected(loss, labels, mask)


def _selection(labels, mask):
    if mask is None:
        return ops.ones_like(ops.cast(labels, "float32"))
    return ops.cast(mask, "float32")


def _mean_over_selected(loss, labels, mask):
    selected = _selection(labels, mask)[..., None] * ops.ones_like(loss)
    return masked_mean(loss, selected)

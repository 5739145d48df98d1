"""Surface normals: 1 − cos between output and target; zero targets are unlabelled."""

from keras import ops

from ct_keras.losses.masked_mean import masked_mean


def _valid(target, mask):
    valid = ops.sum(ops.abs(target), axis=-1) > 0
    if mask is not None:
        valid = ops.logical_and(valid, ops.cast(mask, "bool"))
    return valid


def _unit(x):
    return x / (ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True)) + 1e-8)


def cosine_loss(raw, target, mask=None):
    """`1 − cos(o, y)`, mean over selected pixels with a non-zero target."""
    raw = ops.cast(raw[..., :3], "float32")
    target = ops.cast(target, "float32")
    loss = 1.0 - ops.sum(_unit(raw) * _unit(target), axis=-1)
    return masked_mean(loss, _valid(target, mask))


def l1_normals_loss(raw, target, mask=None):
    """The L1 alternative of the paper's ablation (Table 15): ‖unit(o) − y‖₁ per pixel."""
    raw = ops.cast(raw[..., :3], "float32")
    target = ops.cast(target, "float32")
    loss = ops.sum(ops.abs(_unit(raw) - target), axis=-1)
    return masked_mean(loss, _valid(target, mask))

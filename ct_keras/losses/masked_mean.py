from keras import ops


def masked_mean(values, mask):
    """Mean of `values` where `mask` is 1; 0 (not NaN) when nothing is selected."""
    mask = ops.cast(mask, values.dtype)
    total = ops.sum(values * mask)
    count = ops.sum(mask)
    return ops.where(count > 0, total / ops.maximum(count, 1.0), ops.zeros_like(total))

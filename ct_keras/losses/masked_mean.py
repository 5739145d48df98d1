from keras import ops

from ct_keras.losses.replicas import global_sum, num_replicas


def masked_mean(values, mask):
    """Mean of `values` where `mask` is 1; 0 (not NaN) when nothing is selected.

    Inside a step split over N replicas the count is the global batch's, and the value
    is scaled by N: the mean over replicas is then the global batch's mean, and with the
    trainer's 1/N and the summed gradients, so is the gradient (as on one device).
    """
    mask = ops.cast(mask, values.dtype)
    total = ops.sum(values * mask)
    count = global_sum(ops.sum(mask))
    share = total * float(num_replicas())
    return ops.where(count > 0, share / ops.maximum(count, 1.0), ops.zeros_like(total))

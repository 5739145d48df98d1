"""Loss normalisation over the global batch when a tf.distribute step splits it."""

import tensorflow as tf


def replica_context():
    """The replica context of a multi-replica step, else None (one device, or no step)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def global_sum(value):
    """`value` summed over the replicas of the running step (itself outside one); a count,
    so no gradient flows through it."""
    context = replica_context()
    if context is None:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(value))


def num_replicas():
    context = replica_context()
    return 1 if context is None else context.num_replicas_in_sync

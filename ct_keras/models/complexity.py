"""Parameters and FLOPs of a model, as the paper's Fig. 5 compares them."""

import numpy as np
import tensorflow as tf


def count_params(model):
    """`(trainable, total)` parameter counts (BatchNorm statistics are not trainable)."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = sum(int(np.prod(w.shape)) for w in model.weights)
    return trainable, total


def count_flops(model):
    """Floating-point operations of one inference on one image (a multiply-add is 2).

    Counted by TF's profiler on the frozen inference graph, so every op of the real
    graph is included, not just the convolutions.
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = tf.nest.map_structure(
        lambda t: tf.TensorSpec((1,) + tuple(t.shape[1:]), t.dtype), model.input)
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs)
    graph = convert_variables_to_constants_v2(fn).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    profile = tf.compat.v1.profiler.profile(
        graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options)
    return int(profile.total_float_ops)

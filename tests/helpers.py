"""Small test helpers in the manner of keras-hub's TestCase (keras.src is private)."""

import keras
import numpy as np
import tensorflow as tf


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def run_layer_test(cls, init_kwargs, input_data, expected_output_shape,
                   expected_num_trainable_weights, expected_num_non_trainable_weights=0):
    """Config round trip, weight counts, symbolic and eager calls, a training step and a
    mixed-precision call."""
    layer = cls(**init_kwargs)
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config

    output = layer(input_data)
    shapes = [tuple(o.shape) for o in _as_list(output)]
    if all(isinstance(d, int) for d in expected_output_shape):
        expected_output_shape = [expected_output_shape]
    assert shapes == [tuple(s) for s in expected_output_shape]
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    symbolic = layer(tf.nest.map_structure(
        lambda x: keras.KerasTensor(x.shape, dtype=x.dtype), input_data))
    assert [tuple(s.shape) for s in _as_list(symbolic)] == shapes

    # One training step: every trainable weight gets a finite, non-zero gradient.
    fresh = cls(**init_kwargs)
    with tf.GradientTape() as tape:
        outputs = _as_list(fresh(input_data, training=True) if _takes_training(fresh)
                           else fresh(input_data))
        loss = tf.add_n([tf.reduce_mean(tf.square(o)) for o in outputs])
    grads = tape.gradient(loss, fresh.trainable_weights)
    for w, g in zip(fresh.trainable_weights, grads):
        assert g is not None, w.path
        assert np.all(np.isfinite(g.numpy())), w.path
    if fresh.trainable_weights:
        assert any(np.abs(g.numpy()).max() > 0 for g in grads)

    # Mixed precision: computes in float16, keeps float32 variables.
    mixed = cls(**init_kwargs, dtype="mixed_float16")
    out = _as_list(mixed(input_data))
    assert all(o.dtype == tf.float16 for o in out)
    assert all(w.dtype == "float32" for w in mixed.weights)
    return layer


def _takes_training(layer):
    import inspect

    return "training" in inspect.signature(layer.call).parameters


def rotated_anchors():
    """Non-default class anchors: each class gets the paper's anchor of the next class
    in its table, so every class map decodes differently from the paper's anchors."""
    from ct_keras.tasks import paper_anchors

    out = {}
    for task, table in paper_anchors().items():
        names = list(table)
        out[task] = {n: table[names[(i + 1) % len(names)]] for i, n in enumerate(names)}
    return out

"""Paths through a plain Keras model: one traced graph, optionally XLA or mixed precision."""

import tensorflow as tf

from ct_keras.benchmarking import models as model_sets
from ct_keras.cpu import native_bfloat16
from ct_keras.benchmarking.unavailable import Unavailable


def _numpy(x):
    return tf.nest.map_structure(lambda t: t.numpy(), x)


def graph_fn(model, jit_compile=False):
    """A Keras model → `f(image[, palette])` on numpy arrays, as one traced graph."""
    uses_palette = isinstance(model.input, dict) and "palette" in model.input

    @tf.function(jit_compile=jit_compile)
    def forward(*xs):
        inputs = {"image": xs[0], "palette": xs[1]} if uses_palette else xs[0]
        return model(inputs, training=False)

    # Tensors, not numpy arrays, go in: a new array object must not cost a retrace.
    return lambda *xs: _numpy(forward(*[tf.convert_to_tensor(x) for x in xs]))


def _has_gpu():
    return bool(tf.config.list_physical_devices("GPU"))


def keras_path(dtype="float32", jit_compile=False, needs=None):
    def prepare(kind, spec):
        if needs == "gpu" and not _has_gpu():
            raise Unavailable("needs a GPU (none here)")
        if needs == "bf16" and not (_has_gpu() or native_bfloat16()):
            raise Unavailable("needs a GPU or a CPU with AVX512-BF16/AMX")
        models = model_sets.from_spec(kind, spec)
        if spec.get("init"):
            spec["init"](models)  # e.g. weights of the reference or of a trained model
        if dtype != "float32":
            fp32 = models
            models = model_sets.from_spec(kind, spec, dtype)
            model_sets.copy_weights(fp32, models)
        return model_sets.workloads(kind, models, lambda m: graph_fn(m, jit_compile))
    return prepare

"""The ways to run a model ("paths"), each a small pluggable function.

A path is `prepare(kind, spec) → (composite, all_tasks)` (see `models.workloads`), or
raises `Unavailable` with the reason (its code is not there, no GPU, …), which the
report prints instead of a number. `spec` is a dict: image_size, backbone,
seed (of the random weights) and optionally init (a function given the fp32 model set
before any other copy is made, to load weights). Paths that need `ct_keras.deploy` live in `deploy_paths`.
"""

import numpy as np
import tensorflow as tf

from ct_keras.benchmarking import models as model_sets


class Unavailable(Exception):
    """This path cannot run here; the message says why."""


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
        if needs == "bf16" and not (_has_gpu() or {"avx512_bf16", "amx_bf16"} & set(cpu_flags())):
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


def cpu_flags(wanted=("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")):
    """Which of the `wanted` instruction-set flags this CPU has (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next(l for l in f if l.startswith("flags"))
    except (OSError, StopIteration):
        return []
    have = set(line.split(":", 1)[1].split())
    return [w for w in wanted if w in have]


def paths():
    """`{name: (prepare, exact, description)}`; `exact` paths must match fp32 within 1e-4."""
    from ct_keras.benchmarking import deploy_paths

    table = {
        "keras": (keras_path(), True, "Keras model, one tf.function graph, fp32"),
        "xla": (keras_path(jit_compile=True), True, "the same graph compiled by XLA (jit_compile)"),
        "bf16": (keras_path("mixed_bfloat16", needs="bf16"), False,
                 "Keras mixed_bfloat16 policy (oneDNN bf16 on AVX512-BF16 CPUs)"),
        "mixed_fp16": (keras_path("mixed_float16", needs="gpu"), False,
                       "Keras mixed_float16 policy (GPU only)"),
    }
    table.update(deploy_paths.paths())
    return table


def max_abs_diff(a, b):
    a = a if isinstance(a, list) else [a]
    b = b if isinstance(b, list) else [b]
    return float(max(np.max(np.abs(np.asarray(x) - np.asarray(y))) for x, y in zip(a, b)))

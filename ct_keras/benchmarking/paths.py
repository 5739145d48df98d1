"""The ways to run a model ("paths"), each a small pluggable function.

A path is `prepare(kind, spec) → (composite, all_tasks)` (see `models.workloads`), or
raises `Unavailable` with the reason (its code is not there, no GPU, …), which the
report prints instead of a number. `spec` is a dict: image_size, backbone,
seed (of the random weights) and optionally init (a function given the fp32 model set
before any other copy is made, to load weights). The Keras paths live in `keras_paths`,
those through `ct_keras.deploy` in `deploy_paths`; this module only lists them.
"""

import numpy as np

from ct_keras.benchmarking import deploy_paths
from ct_keras.benchmarking.keras_paths import graph_fn, keras_path  # noqa: F401
from ct_keras.benchmarking.machine import cpu_flags  # noqa: F401
from ct_keras.benchmarking.unavailable import Unavailable  # noqa: F401


def paths():
    """`{name: (prepare, exact, description)}`; `exact` paths must match fp32 within 1e-4."""
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

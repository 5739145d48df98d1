"""One thread count for every framework in a process.

Call `configure` before TensorFlow runs anything: its thread pools are fixed at first use.
"""

import os
import sys


def configure(threads):
    """Sets TensorFlow's intra/inter-op pools, OpenMP and, when it is already imported,
    PyTorch to `threads` threads; returns what each got, for the report."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    got = {
        "tensorflow_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "tensorflow_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }
    if "torch" not in sys.modules:  # importing it here would add to every case's memory
        return got
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only allowed before torch's first parallel work
        pass
    got["torch_intra_op"] = torch.get_num_threads()
    got["torch_inter_op"] = torch.get_num_interop_threads()
    return got

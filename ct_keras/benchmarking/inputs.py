"""The inputs every benchmark times: seeded images and Task Palettes.

Two workloads (the issue's):
    composite  one R1r palette per image (four tasks on four rectangles): one output
    all        "all five tasks everywhere": five outputs per image, one per task
"""

import numpy as np

WORKLOADS = ("composite", "all")


def images(batch_size, size, seed=0):
    """float32 `[B, size, size, 3]` RGB in 0..255."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, (batch_size, size, size, 3)).astype("float32")


def r1r_palettes(batch_size, size, seed=0):
    """int32 `[B, size, size]`: rule R1r, a different seeded mosaic per image."""
    import tensorflow as tf

    from ct_keras.data.palettes import mosaic_palette

    return np.stack([
        mosaic_palette(tf.constant([seed, i], tf.int32), (size, size)).numpy()
        for i in range(batch_size)
    ]).astype("int32")


def uniform_palette(batch_size, size, task):
    """int32 `[B, size, size]` filled with one task id."""
    return np.full((batch_size, size, size), task, "int32")

"""TF graph ops from a decoded sample (see `pascal_mt`) to the model's inputs and targets.

The raw-folder and the TFRecord pipelines both run these same ops, so that they give
identical batches.
"""

import tensorflow as tf

LABEL_KEYS = ("semseg", "parts", "saliency", "normals", "normals_valid")


def _as_image(x):
    return x if x.shape.rank == 3 else x[..., None]


def resize_sample(sample, image_size):
    """Resizes a decoded sample to `image_size` = (H, W), keeping its uint8 form.

    Image bicubic (rounded back to uint8, so that a sample resized before storage and
    one resized on the fly are the same numbers), labels nearest (docs/design.md §5). Edges are
    one pixel wide: nearest would drop most of them when shrinking, so they are
    area-resized and any covered output pixel is an edge.
    """
    size = tf.constant(image_size, tf.int32)
    same = tf.reduce_all(tf.shape(sample["image"])[:2] == size)

    def resize():
        out = {}
        image = tf.image.resize(tf.cast(sample["image"], tf.float32), size, "bicubic")
        out["image"] = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
        for key in LABEL_KEYS:
            value = tf.image.resize(_as_image(sample[key]), size, "nearest")
            out[key] = tf.reshape(value, tf.shape(value)[:2]) if sample[key].shape.rank == 2 else value
        edges = tf.image.resize(tf.cast(_as_image(sample["edges"]), tf.float32), size, "area")
        out["edges"] = tf.cast(edges[..., 0] > 0, tf.uint8)
        return out

    def keep():
        return {key: tf.identity(sample[key]) for key in sample}

    out = tf.cond(same, keep, resize)
    h, w = image_size
    for key, value in out.items():
        value.set_shape([h, w] + ([3] if key in ("image", "normals") else []))
    return out


def decode_normals(normals, valid):
    """Unit normals from the distilled PNG values, zero where they are not trusted."""
    n = 2.0 * tf.cast(normals, tf.float32) / 255.0 - 1.0
    # The 8-bit PNG values are only near unit length: renormalise.
    n = tf.math.l2_normalize(n, axis=-1, epsilon=1e-12)
    return n * tf.cast(valid, tf.float32)[..., None]


def to_inputs_and_targets(sample):
    """`(image float32 0..255, targets)` with the target dtypes of `make_dataset`."""
    targets = {
        "semseg": tf.cast(sample["semseg"], tf.int32),
        "parts": tf.cast(sample["parts"], tf.int32),
        "edges": tf.cast(sample["edges"], tf.float32),
        "saliency": tf.cast(sample["saliency"], tf.float32),
        "normals": decode_normals(sample["normals"], sample["normals_valid"]),
    }
    return tf.cast(sample["image"], tf.float32), targets

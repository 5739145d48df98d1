"""Train-time augmentation, applied identically to the image and every label (TF graph ops).

The reference's set (its `data_augmentations.py`, albumentations): horizontal flip,
scale ×[0.5, 1.5] and shift ±10 % about the centre with zero padding, Gaussian noise
(p 0.2), one of brightness / gamma (p 0.9), one of sharpen / blur (p 0.9), one of
contrast / hue-saturation (p 0.9). Unlike the reference, the geometric part also runs
when normals are trained: a flip only needs n_x negated, and scaling and shifting
do not turn a surface.
"""

import tensorflow as tf

SCALE_RANGE = (0.5, 1.5)
SHIFT_LIMIT = 0.1
IGNORE_LABEL = 255


def _warp(images, transform, interpolation):
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images[None],
        transforms=transform[None],
        output_shape=tf.shape(images)[:2],
        fill_value=0.0,
        interpolation=interpolation,
        fill_mode="CONSTANT",
    )[0]


def geometric_transform(image, targets, flip, scale, shift):
    """Flips, scales about the centre and shifts an example; output keeps the input size.

    Args:
        image: float32 `[H, W, 3]`.
        targets: the dict of `make_dataset` targets for this image.
        flip: bool scalar, mirror left-right.
        scale: float scalar, > 1 zooms in.
        shift: float `[2]`, (dy, dx) in pixels.

    Pixels that come from outside the image are 0 in the image, 255 (ignore) in semseg
    and parts, 0 in edges and saliency, and a zero (invalid) normal.
    """
    h = tf.cast(tf.shape(image)[0], tf.float32)
    w = tf.cast(tf.shape(image)[1], tf.float32)
    cy, cx = (h - 1.0) / 2.0, (w - 1.0) / 2.0
    sign = tf.where(tf.cast(flip, tf.bool), -1.0, 1.0)
    scale = tf.cast(scale, tf.float32)
    shift = tf.cast(shift, tf.float32)
    # Output pixel (x, y) reads input (cx + sign·(x − cx − dx)/s, cy + (y − cy − dy)/s).
    transform = tf.stack([
        sign / scale, 0.0, cx - sign * (cx + shift[1]) / scale,
        0.0, 1.0 / scale, cy - (cy + shift[0]) / scale,
        0.0, 0.0,
    ])
    image = _warp(image, transform, "BILINEAR")
    normals = targets["normals"] * tf.stack([sign, 1.0, 1.0])
    stacked = tf.concat([
        tf.cast(tf.stack([targets["semseg"], targets["parts"]], -1), tf.float32),
        tf.stack([targets["edges"], targets["saliency"]], -1),
        normals,
        tf.ones_like(targets["edges"])[..., None],
    ], axis=-1)
    stacked = _warp(stacked, transform, "NEAREST")
    inside = stacked[..., 7] > 0.5
    classes = tf.where(inside[..., None], tf.cast(stacked[..., :2], tf.int32), IGNORE_LABEL)
    # Nearest sampling moves whole normals, so they stay unit length (or zero).
    return image, {
        "semseg": classes[..., 0],
        "parts": classes[..., 1],
        "edges": stacked[..., 2],
        "saliency": stacked[..., 3],
        "normals": stacked[..., 4:7],
    }


def random_geometry(seed, image_size):
    """Draws (flip, scale, shift) of the reference's geometric augmentation."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    flip = tf.random.stateless_uniform([], seeds[0]) < 0.5
    scale = tf.random.stateless_uniform([], seeds[1], *SCALE_RANGE)
    limit = SHIFT_LIMIT * tf.cast(image_size, tf.float32)
    shift = tf.random.stateless_uniform([2], seeds[2], -1.0, 1.0) * limit
    return flip, scale, shift


def _filter3x3(image, kernel):
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])
    padded = tf.pad(image[None], [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")[0]


def _one_of(index, branches, image):
    return tf.switch_case(index, [lambda f=f: f(image) for f in branches] + [lambda: image])


def photometric(image, seed):
    """The reference's colour augmentations on a float32 0..255 image."""
    s = tf.random.experimental.stateless_split(seed, 12)

    def uniform(i, low, high, shape=()):
        return tf.random.stateless_uniform(shape, s[i], low, high)

    def choice(i, n, p):
        # Branch n (the identity) with probability 1 − p, else one of the n at random.
        pick = tf.random.stateless_uniform([], s[i], 0, n, tf.int32)
        return tf.where(tf.random.stateless_uniform([], s[i + 1]) < p, pick, n)

    x = image / 255.0
    noise = tf.random.stateless_normal(tf.shape(x), s[0]) * uniform(1, 0.01, 0.05)
    x = tf.where(uniform(2, 0.0, 1.0) < 0.2, x + noise, x)
    x = _one_of(choice(3, 2, 0.9), [
        lambda v: v + uniform(5, -0.2, 0.2),
        lambda v: tf.pow(tf.clip_by_value(v, 0.0, 1.0), uniform(5, 0.8, 1.2)),
    ], x)
    alpha = uniform(6, 0.2, 0.5)
    sharpen = tf.constant([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])
    identity = tf.constant([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    x = _one_of(choice(7, 2, 0.9), [
        lambda v: _filter3x3(v, (1.0 - alpha) * identity + alpha * sharpen),
        lambda v: _filter3x3(v, tf.fill([3, 3], 1.0 / 9.0)),
    ], x)
    x = tf.clip_by_value(x, 0.0, 1.0)
    x = _one_of(choice(9, 2, 0.9), [
        lambda v: tf.image.adjust_contrast(v, uniform(11, 0.8, 1.2)),
        lambda v: tf.image.adjust_saturation(
            tf.image.adjust_hue(v, uniform(11, -0.05, 0.05)), uniform(6, 0.7, 1.3)
        ),
    ], x)
    return tf.clip_by_value(x, 0.0, 1.0) * 255.0


def augment(image, targets, seed):
    """Random geometric + photometric augmentation of one example, keyed on `seed` ([2] ints)."""
    seed = tf.cast(seed, tf.int64)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    flip, scale, shift = random_geometry(seeds[0], tf.shape(image)[:2])
    image, targets = geometric_transform(image, targets, flip, scale, shift)
    return photometric(image, seeds[1]), targets

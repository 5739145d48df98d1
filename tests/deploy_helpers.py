"""Small models and inputs shared by the deployment tests."""

import keras
import numpy as np

from ct_keras.models import CompositeTaskingNet

SIZE = 64
TINY = {"backbone": "resnet18", "image_size": SIZE, "embedding_dim": 32}


def randomize_statistics(model, seed=0):
    """Gives every BatchNorm non-trivial statistics and every γ/β conv a non-trivial bias,
    so that folding them is really tested (fresh ones are close to identities)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        name = w.path.rsplit("/", 1)[-1]
        if name == "moving_mean":
            w.assign(rng.normal(0.0, 0.3, w.shape).astype("float32"))
        elif name == "moving_variance":
            w.assign(rng.uniform(0.3, 3.0, w.shape).astype("float32"))
        elif name in ("gamma", "beta") or "/gamma/" in w.path or "/beta/" in w.path:
            w.assign((w.numpy() + rng.normal(0.0, 0.2, w.shape)).astype("float32"))
    return model


def tiny_ctn(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return randomize_statistics(CompositeTaskingNet(**{**TINY, **kwargs}), seed)


def random_inputs(batch=2, seed=0, size=SIZE):
    """Images in 0..255 and a palette with large blocks and single-pixel islands."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    blocks = rng.integers(0, 5, (batch, size // 16, size // 16))
    palette = np.repeat(np.repeat(blocks, 16, axis=1), 16, axis=2)
    islands = rng.random((batch, size, size)) < 0.1
    palette = np.where(islands, rng.integers(0, 5, (batch, size, size)), palette)
    return image, palette.astype("int32")


def uniform_palette(tasks, size=SIZE):
    return np.stack([np.full((size, size), t, "int32") for t in tasks])


def keras_raw(model, image, palette):
    return model({"image": image, "palette": palette}, training=False).numpy()

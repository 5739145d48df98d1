"""The four benchmarked models and the two workloads of each, on any compiled path.

    ctn  CompositeTaskingNet: composite = one pass; all five tasks = five passes with
         uniform palettes (the fast path of `ct_keras.deploy` shares one encoder pass)
    mhn  MultiHeadNet: one encoder, five decoders; every pass computes all five
    stn  five SingleTaskNets: composite runs the nets of the tasks in the palette
    mn   MultiNet: five whole networks in one model
"""

import keras
import numpy as np

from ct_keras.tasks import NUM_TASKS

MODEL_KINDS = ("ctn", "mhn", "stn", "mn")


def from_spec(kind, spec, dtype="float32"):
    """`build` for a path's `spec` (image_size, backbone, seed, optional config)."""
    return build(kind, spec["image_size"], spec["backbone"], dtype, spec["seed"], spec.get("config"))


def build(kind, image_size=256, backbone="resnet34", dtype="float32", seed=0, config=None):
    """`{"net": …}` (and `"heads"` for MHN/MN, the same layers with five outputs), or
    `{"nets": [five STNs]}`; weights are a function of `seed` alone, whatever `dtype`.
    `config`: further constructor arguments (a trained model's, say)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"Model must be one of {MODEL_KINDS}. Received {kind!r}")
    keras.utils.set_random_seed(seed)
    # The policy must be global while the layers are made (a Model's own dtype does
    # not reach the layers of its functional graph).
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        return _build(kind, dict(config or {}, image_size=image_size, backbone=backbone))
    finally:
        keras.config.set_dtype_policy(previous)


def _build(kind, config):
    from ct_keras.models import MODELS

    if kind == "stn":
        return {"nets": [MODELS["stn"](**dict(config, task=k)) for k in range(NUM_TASKS)]}
    net = MODELS[kind](**config)
    models = {"net": net}
    if kind in ("mhn", "mn"):
        from ct_keras.models.multi_head_net import task_prefix

        heads = [net.get_layer(f"{task_prefix(k)}raw").output for k in range(NUM_TASKS)]
        models["heads"] = keras.Model(net.input["image"], heads, name=f"{kind}_heads")
    return models


def copy_weights(source, target):
    """Same weights into a model set built with another dtype policy."""
    for key in source:
        pairs = zip(source[key], target[key]) if key == "nets" else [(source[key], target[key])]
        for a, b in pairs:
            b.set_weights(a.get_weights())


def workloads(kind, models, compile_fn):
    """`(composite(image, palette) → array, all_tasks(image) → [five arrays])` with
    every Keras model compiled by `compile_fn(model)` → callable on numpy arrays."""
    if kind == "stn":
        nets = [compile_fn(m) for m in models["nets"]]

        def composite(image, palette):
            out = np.full(image.shape, -1.0, "float32")
            for k in np.unique(palette):
                out = np.where((palette == k)[..., None], nets[k](image), out)
            return out

        return composite, lambda image: [net(image) for net in nets]
    net = compile_fn(models["net"])

    def composite(image, palette):
        return net(image, palette)

    if kind == "ctn":
        def all_tasks(image):
            return [net(image, np.full(image.shape[:3], k, "int32")) for k in range(NUM_TASKS)]
    else:
        heads = compile_fn(models["heads"])

        def all_tasks(image):
            return heads(image)
    return composite, all_tasks

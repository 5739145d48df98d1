"""Paths through `ct_keras.deploy`: the exact fast path, SavedModel and TFLite."""

import numpy as np

from ct_keras import deploy
from ct_keras.benchmarking.unavailable import Unavailable
from ct_keras.tasks import NUM_TASKS


def _graph(fn):
    import tensorflow as tf

    traced = tf.function(fn)
    return lambda *xs: traced(*[tf.convert_to_tensor(x) for x in xs]).numpy()


def fast(kind, spec):
    """`FastCompositeTasking` of the fp32 CTN: composite palettes through the per-task
    tables, all five tasks through one encoder pass (CTN only)."""
    if kind != "ctn":
        raise Unavailable("the fast path is the CTN's (tables and folding of its conditioning)")
    net = deploy.FastCompositeTasking(_fp32_models(kind, spec)["net"])
    composite, every = _graph(net.composite), _graph(net.all_tasks)
    return composite, lambda image: [t for t in every(image).swapaxes(0, 1)]


def _representative(spec):
    """Calibration inputs for int8: training images when a data folder is given, else
    seeded random images, each with an R1r and a one-task palette."""
    if spec.get("data_dir"):
        return deploy.representative_inputs(spec["data_dir"], (spec["image_size"],) * 2, num_images=50)
    from ct_keras.benchmarking import inputs

    def generate():
        for i in range(8):
            image = inputs.images(1, spec["image_size"], seed=1000 + i)
            yield {"image": image, "palette": inputs.r1r_palettes(1, spec["image_size"], seed=1000 + i)}
            yield {"image": image, "palette": inputs.uniform_palette(1, spec["image_size"], i % 5)}
    return generate


def tflite(quantization):
    """The CTN's fast path exported by `ct_keras.deploy.export_tflite` and run by
    ai_edge_litert (XNNPack) with the case's thread count. Composite: the
    `serving_default` signature (network + decoding; `raw` is what is compared); all
    five tasks: the same signature once per task with a one-task palette (the .tflite
    holds only that signature)."""
    def prepare(kind, spec):
        if kind != "ctn":
            raise Unavailable("ct_keras.deploy exports the CTN's fast path only")
        import tempfile

        from ai_edge_litert.interpreter import Interpreter

        models = _fp32_models(kind, spec)
        rep = _representative(spec) if quantization == "int8" else None
        with tempfile.TemporaryDirectory(prefix="ct-bench-tflite-") as out_dir:
            path = deploy.export_tflite(models["net"], out_dir, (quantization,), fast=True,
                                        representative_dataset=rep)[quantization]
            with open(path, "rb") as f:
                content = f.read()
        interpreter = Interpreter(model_content=content, num_threads=spec.get("threads"))
        serve = interpreter.get_signature_runner("serving_default")

        def composite(image, palette):
            return serve(image=image, palette=palette)["raw"]

        def all_tasks(image):
            return [serve(image=image, palette=np.full(image.shape[:3], k, np.int32))["raw"]
                    for k in range(NUM_TASKS)]
        return composite, all_tasks
    return prepare


def _fp32_models(kind, spec):
    from ct_keras.benchmarking import models as model_sets

    models = model_sets.from_spec(kind, spec)
    if spec.get("init"):
        spec["init"](models)
    return models


def savedmodel(constant_weights=False):
    """`export_saved_model` (the CTN's fast path, its weights constants of the graph or,
    without `constant_weights`, variables; the Keras graph of MHN and MN), loaded back
    with `tf.saved_model.load`: `serving_default` (network + decoding) for the composite
    palette, `all_tasks` for all five tasks; `raw` is what is compared."""
    def prepare(kind, spec):
        if kind == "stn":
            raise Unavailable("SavedModel exports serve models that take a Task Palette (not STNs)")
        if constant_weights and kind != "ctn":
            raise Unavailable("constant weights are the CTN fast path's export (--constant_weights)")
        import tempfile

        import tensorflow as tf

        models = _fp32_models(kind, spec)
        with tempfile.TemporaryDirectory(prefix="ct-bench-sm-") as out_dir:
            # Loading reads the whole graph and every variable into memory: the folder can go.
            loaded = tf.saved_model.load(deploy.export_saved_model(
                models["net"], out_dir, fast=kind == "ctn", constant_weights=constant_weights))
        serve, every = loaded.signatures["serving_default"], loaded.signatures["all_tasks"]

        def composite(image, palette):
            return serve(image=tf.constant(image), palette=tf.constant(palette))["raw"].numpy()

        def all_tasks(image):
            return list(every(image=tf.constant(image))["raw"].numpy().swapaxes(0, 1))
        return composite, all_tasks
    return prepare


def paths():
    """`{name: (prepare, exact, description)}` for the deploy paths."""
    return {
        "fast": (fast, True,
                 "exact fast path: per-task tables, γ/β folding, one encoder pass for all tasks"),
        "savedmodel": (savedmodel(), True, "exported SavedModel (CTN: of the fast path), loaded back"),
        "savedmodel_constants": (savedmodel(constant_weights=True), True,
                                 "the SavedModel with its weights as graph constants (--constant_weights)"),
        "tflite_fp32": (tflite("fp32"), True, "TFLite fp32 of the fast path (XNNPack)"),
        "tflite_fp16": (tflite("fp16"), False, "TFLite fp16 weights, fp32 compute"),
        "tflite_dynamic_int8": (tflite("dynamic_int8"), False,
                                "TFLite int8 weights, activations quantised on the fly"),
        "tflite_int8": (tflite("int8"), False,
                        "TFLite int8 weights and activations (XNNPack, VNNI), calibrated"),
    }

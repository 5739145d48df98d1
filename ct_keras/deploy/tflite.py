"""TFLite conversion from a SavedModel: builtin ops only, fp32 / fp16 / int8.

The SavedModel converted is a `ServingModule` written with static input shapes and
without the graph-side input checks (TFLite has neither `EnsureShape` nor `Assert` as
builtins): the same network and the same `serving_default` signature (inputs `image`
and `palette`; outputs `semseg`, `parts`, `edges`, `saliency`, `normals`, `raw`). The
caller of a `.tflite` file checks its inputs (`ct_keras.deploy.user_inputs`).
`export_tflite` writes the export's info (`TFLITE_INFO`: class anchors, config) next to
the files.
"""

import json
import os
import shutil
import tempfile
import warnings

import numpy as np
import tensorflow as tf

from ct_keras.deploy.palette_module import PaletteModule
from ct_keras.deploy.saved_model import export_info, palette_info, save_module
from ct_keras.deploy.serving_module import ServingModule
from ct_keras.atomic_files import write_atomically
from ct_keras.deploy.user_inputs import TFLITE_INFO

QUANTIZATIONS = ("fp32", "fp16", "dynamic_int8", "int8")
# fp32: the reference. fp16: float16 weights, float32 compute. dynamic_int8: int8
# weights, activations quantized on the fly. int8: int8 weights and activations
# calibrated on training images; ops without int8 kernels fall back to float; the
# inputs and outputs stay float32 / int32.


def check_quantizations(names):
    """`names` (a list or a comma-separated string) → a validated tuple."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in QUANTIZATIONS]
    if unknown:
        raise ValueError(f"Unknown TFLite quantization {unknown}: choose among {list(QUANTIZATIONS)}")
    return tuple(dict.fromkeys(names))


def representative_inputs(data_dir, image_size, num_images=200, rules=("r1r", "s"), seed=0):
    """A generator of `{"image", "palette"}` batches of one training image each.

    Half the images come with an R1r palette (four tasks), half with one task over the
    whole image, so that the calibration sees the activations of every task.
    """
    from ct_keras.data import make_dataset

    def generate():
        per_rule = max(1, num_images // len(rules))
        for rule in rules:
            ds = make_dataset(data_dir, "train", rule=rule, image_size=tuple(image_size),
                              batch_size=1, augment=False, seed=seed).take(per_rule)
            for inputs, _ in ds:
                yield {"image": inputs["image"], "palette": inputs["palette"]}

    return generate


def converter_for(saved_model_dir, quantization, representative_dataset=None):
    """A `TFLiteConverter` for `saved_model_dir`'s `serving_default`, builtin ops only."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.experimental_enable_resource_variables = False  # weights are constants
    if quantization == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        if representative_dataset is None:
            raise ValueError("int8 quantization needs a representative dataset (training images)")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
    elif quantization != "fp32":
        raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}. Received {quantization!r}")
    return converter


def op_names(model_content):
    """The names of the ops of a `.tflite` model, e.g. `["CONV_2D", …]` (needs no TF)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_content)
    return [op["op_name"] for op in interpreter._get_ops_details()]


def check_builtin_ops(model_content):
    """Raises if a converted model holds a Flex (TF select) or custom op."""
    names = op_names(model_content)
    flex = sorted({n for n in names if n.startswith("Flex") or n in ("CUSTOM", "DELEGATE")})
    if flex:
        raise ValueError(f"The TFLite model needs ops outside the TFLite builtins: {flex}")
    return names


def convert(saved_model_dir, quantization="fp32", representative_dataset=None):
    """Converts a static-shape `ServingModule` SavedModel; returns the `.tflite` bytes."""
    converter = converter_for(saved_model_dir, quantization, representative_dataset)
    try:
        with warnings.catch_warnings():
            # The int8 calibrator still runs the deprecated tf.lite.Interpreter inside TF.
            warnings.filterwarnings("ignore", message=r"[\s\S]*tf.lite.Interpreter is deprecated")
            content = converter.convert()
    except Exception as e:  # ConverterError lives in a private module
        message = str(e)
        if "Flex" in message or "TF Select" in message or "neither a custom op nor a flex op" in message:
            raise ValueError(
                "The network has ops outside the TFLite builtins (a Flex op would be needed); "
                f"converter said: {message.splitlines()[0][:500]}"
            ) from None
        raise
    check_builtin_ops(content)
    return content


PALETTE_FILE = "palette_fp32.tflite"
PALETTE_INT8_FILE = "palette_int8.tflite"


def _images_only(representative_dataset):
    """The calibration images of `representative_dataset` without their palettes."""
    def generate():
        for inputs in representative_dataset():
            yield {"image": inputs["image"]}

    return generate


def export_tflite(model, out_dir, quantizations=("fp32",), fast=True, representative_dataset=None,
                  prefix="model", palette_net=None, palette_source="the palette network"):
    """Writes `<out_dir>/<prefix>_<quantization>.tflite` for each quantization, and
    `<out_dir>/ct_keras_export.json` (`saved_model.export_info`: anchors, config).

    Args:
        model: the float32 model (as for `export_saved_model`).
        out_dir: folder of the `.tflite` files (created).
        quantizations: among `QUANTIZATIONS`.
        fast: convert the fast path rather than the Keras graph.
        representative_dataset: a generator function of input dicts, for `int8`
            (see `representative_inputs`).
        palette_net: a trained `PaletteNet` (the model's size and tasks) written beside
            the model as `palette_fp32.tflite` (`serving_default`: `image` → `palette`),
            and with `int8` also as `palette_int8.tflite` (calibrated on the same images),
            both named in the info file; or None.
        palette_source: where it came from, for the info file and errors.

    Returns:
        `{quantization: path}`.
    """
    quantizations = check_quantizations(quantizations)
    module = ServingModule(model, fast=fast, check_inputs=False)
    palette_module = None
    if palette_net is not None:
        palette_module = PaletteModule(palette_net, module.image_hw, module.num_tasks, palette_source)
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for quantization in quantizations:
        paths[quantization] = os.path.join(out_dir, f"{prefix}_{quantization}.tflite")
    _convert_to_files(module, {q: (q, representative_dataset) for q in quantizations}, paths, out_dir)
    info = export_info(module, model)
    if palette_module is not None:
        conversions = {"palette": ("fp32", None)}
        palette_paths = {"palette": os.path.join(out_dir, PALETTE_FILE)}
        if "int8" in quantizations:
            conversions["palette_int8"] = ("int8", _images_only(representative_dataset))
            palette_paths["palette_int8"] = os.path.join(out_dir, PALETTE_INT8_FILE)
        _convert_to_files(palette_module, conversions, palette_paths, out_dir)
        paths.update(palette_paths)
        info["palette_model"] = palette_info(palette_module, file=PALETTE_FILE)
        if "int8" in quantizations:
            info["palette_model"]["int8_file"] = PALETTE_INT8_FILE
    write_atomically(os.path.join(out_dir, TFLITE_INFO), json.dumps(info, indent=2))
    return paths


def _convert_to_files(module, conversions, paths, out_dir):
    """Saves `module` once and writes `{key: (quantization, representative)}` to `paths[key]`."""
    tmp = tempfile.mkdtemp(prefix=".tflite-saved-model-", dir=out_dir)
    try:
        save_module(module, tmp)
        for key, (quantization, representative_dataset) in conversions.items():
            content = convert(tmp, quantization, representative_dataset)
            path = paths[key]
            with open(path + ".tmp", "wb") as f:
                f.write(content)
            os.replace(path + ".tmp", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_tflite(path_or_content, image, palette, num_threads=None):
    """Runs the `serving_default` signature of a `.tflite` model on numpy inputs.

    Returns the output dict. The inputs are not checked here (see `user_inputs`).
    """
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"num_threads": num_threads} if num_threads else {}
    if isinstance(path_or_content, (bytes, bytearray)):
        interpreter = Interpreter(model_content=bytes(path_or_content), **kwargs)
    else:
        interpreter = Interpreter(model_path=str(path_or_content), **kwargs)
    runner = interpreter.get_signature_runner("serving_default")
    return runner(image=np.asarray(image, np.float32), palette=np.asarray(palette, np.int32))


def run_tflite_palette(path, image, num_threads=None):
    """The Task Palettes `[B, H, W]` a `palette_fp32.tflite` predicts for images `[B, H, W, 3]`."""
    from ct_keras.deploy.tflite_palette import palette_runner

    return palette_runner(path, num_threads)(image)

"""The palette network's TFLite file beside a model's (`tools/export.py --palette_model`),
run with LiteRT alone (no TensorFlow): for the on-device demo and `load_predictor`."""

import os

import numpy as np

from ct_keras.deploy.user_inputs import read_tflite_info


def palette_runner(file, num_threads=None):
    """`run(images)`: float32 `[B, H, W, 3]` RGB 0..255 → int32 `[B, H, W]` task ids, with
    the palette network's `.tflite` `file` (one image per call: its batch is 1)."""
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"num_threads": num_threads} if num_threads else {}
    runner = Interpreter(model_path=str(file), **kwargs).get_signature_runner("serving_default")

    def run(images):
        images = np.asarray(images, np.float32)
        return np.concatenate([runner(image=images[i:i + 1])["palette"] for i in range(len(images))])

    return run


def exported_palette_file(model_path):
    """The palette network's file that the info next to the model's `.tflite` names, or
    None when the model was exported without one."""
    palette = (read_tflite_info(model_path) or {}).get("palette_model")
    if not palette:
        return None
    file = os.path.join(os.path.dirname(os.path.abspath(model_path)), palette["file"])
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{file} not found: the info next to {model_path} names it as the palette "
                                "network exported with it")
    return file

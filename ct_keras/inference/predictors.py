"""Predictors: whatever a user points --model at, behind one `raw(image, palette)` call.

    a training run folder   model.json + checkpoints/: a CompositeTaskingNet runs on the
                            exact fast path (`FastCompositeTasking`), other models as they are
    a SavedModel export     the base folder (its highest version) or a version folder
    a .tflite file          tools/export.py --tflite (LiteRT, one image per call)

Each has `image_hw` (the model's input size), `anchors` (class anchors to decode with;
None for the defaults) and `raw(images, palettes)` → the raw `[B, H, W, C]` output.
"""

import os

import numpy as np

from ct_keras.tasks import NUM_TASKS, TASK_NAMES


def _anchors(info):
    """The class anchors an export records (its info's "anchors"), None → the paper's."""
    if not isinstance(info, dict):
        return None
    return info.get("anchors", (info.get("config") or {}).get("anchors"))


class KerasPredictor:
    """A training run's model (`load_model_dir`); a CTN through its exact fast path."""

    def __init__(self, model_dir, checkpoint="best"):
        import tensorflow as tf

        from ct_keras.models import CompositeTaskingNet, load_model_dir

        self.source = model_dir
        self.model = load_model_dir(model_dir, checkpoint)
        self.image_hw = tuple(self.model.image_hw)
        self.anchors = getattr(self.model, "anchors", None)
        self.palette_model = None  # a run folder holds one network (--palette_model gives another)
        height, width = self.image_hw
        if isinstance(self.model, CompositeTaskingNet):
            from ct_keras.deploy import FastCompositeTasking

            fast = FastCompositeTasking(self.model)
            self._run = tf.function(fast.composite, autograph=False, input_signature=[
                tf.TensorSpec([None, height, width, 3], tf.float32),
                tf.TensorSpec([None, height, width], tf.int32)])
        elif self.model.uses_palette:
            self._run = lambda image, palette: self.model(
                {"image": image, "palette": palette}, training=False)
        else:  # a single-task network predicts its own task only
            self._run = self._single_task

    def _single_task(self, image, palette):
        task = int(self.model.task)
        asked = sorted(int(k) for k in np.unique(palette) if k != task)
        if asked:
            raise ValueError(
                f"{self.source} is a single-task network for {TASK_NAMES[task]}: the palette "
                f"asks for {[TASK_NAMES[k] for k in asked]} too; use --palette=s:{TASK_NAMES[task]}")
        return self.model(image, training=False)

    def raw(self, images, palettes):
        return np.asarray(self._run(np.asarray(images, np.float32), np.asarray(palettes, np.int32)))


def _version_folder(path):
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((int(n) for n in os.listdir(path) if n.isdigit()
                       and os.path.isfile(os.path.join(path, n, "saved_model.pb"))))
    if not versions:
        raise FileNotFoundError(f"--model {path} holds neither model.json (a training run) nor "
                                "saved_model.pb (an export) nor version folders of an export")
    return os.path.join(path, str(versions[-1]))


class SavedModelPredictor:
    """A SavedModel written by `export_saved_model` (its `serving_default` signature)."""

    def __init__(self, path):
        import tensorflow as tf

        from ct_keras.deploy.user_inputs import read_export_info

        self.source = _version_folder(path)
        info = read_export_info(self.source)
        self.image_hw = tuple(int(s) for s in info["image_size"])
        self.anchors = _anchors(info)
        self._loaded = tf.saved_model.load(self.source)
        self._run = self._loaded.signatures["serving_default"]
        self.palette_model = None  # the palette network exported with it, if any
        if "palette" in self._loaded.signatures:
            from ct_keras.inference.palette_model import ExportedPalette

            signature = self._loaded.signatures["palette"]
            self.palette_model = ExportedPalette(
                lambda images: signature(image=tf.constant(images, tf.float32))["palette"].numpy(),
                self.image_hw, f"{self.source} (palette signature)")

    def raw(self, images, palettes):
        import tensorflow as tf

        outputs = self._run(image=tf.constant(images, tf.float32), palette=tf.constant(palettes, tf.int32))
        return outputs["raw"].numpy()


class TFLitePredictor:
    """A `.tflite` file of tools/export.py (LiteRT; the inputs are checked before it runs).

    `flag` names the file in errors (the flag that gave it)."""

    def __init__(self, path, num_threads=None, flag="--model"):
        from ai_edge_litert.interpreter import Interpreter

        self.source = path
        try:
            interpreter = Interpreter(model_path=path, num_threads=num_threads)
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"{flag} {path} is not a TFLite model: {e}") from None
        if "serving_default" not in interpreter.get_signature_list():
            raise ValueError(f"{flag} {path} has no serving_default signature: not a tools/export.py file")
        self._runner = interpreter.get_signature_runner("serving_default")
        inputs = self._runner.get_input_details()
        if set(inputs) != {"image", "palette"}:
            raise ValueError(f"{flag} {path} takes {sorted(inputs)}, not an image and a palette")
        self.image_hw = tuple(int(s) for s in inputs["image"]["shape"][1:3])
        from ct_keras.deploy.tflite_palette import exported_palette_file, palette_runner
        from ct_keras.deploy.user_inputs import read_tflite_info

        info = read_tflite_info(path)  # written next to the file by the export
        self.anchors = _anchors(info)
        self.palette_model = None  # the palette network exported with it, if any
        palette_file = exported_palette_file(path)
        if palette_file:
            from ct_keras.inference.palette_model import ExportedPalette

            self.palette_model = ExportedPalette(palette_runner(palette_file, num_threads), self.image_hw,
                                                 palette_file)

    def raw(self, images, palettes):
        return np.concatenate([self.outputs(images[i:i + 1], palettes[i:i + 1])["raw"]
                               for i in range(len(images))])

    def outputs(self, image, palette):
        """Every output of the file for one image `[1, H, W, 3]` and palette `[1, H, W]`: the
        raw map and each task decoded by the file itself."""
        from ct_keras.deploy.user_inputs import check_palette

        check_palette(palette, self.image_hw, NUM_TASKS)  # TFLite has no asserts
        return self._runner(image=np.asarray(image, np.float32), palette=np.asarray(palette, np.int32))


def load_predictor(path, checkpoint="best"):
    """The predictor of a run folder, a SavedModel (base or version folder) or a `.tflite`."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"--model {path} does not exist")
    if os.path.isfile(path):
        if path.endswith(".tflite"):
            return TFLitePredictor(path)
        raise ValueError(f"--model {path} is a file but not a .tflite: give a training run "
                         "folder, a SavedModel export folder or a .tflite file")
    if os.path.isfile(os.path.join(path, "model.json")):
        return KerasPredictor(path, checkpoint)
    return SavedModelPredictor(path)

"""`ServingModule`: a CompositeTasking network with decoded outputs, as a `tf.Module`.

What the SavedModel and TFLite exports hold. It needs no ct_keras (nor Keras) to load:
every function is a TF graph over the module's variables.
"""

import tensorflow as tf

from ct_keras.decoding import decode_tensor  # noqa: F401 (re-exported: the one decoder)
from ct_keras.deploy.fast_path import FastCompositeTasking
from ct_keras.deploy.palette_module import PaletteModule
from ct_keras.tasks import (  # noqa: F401 (FILL_VALUES is re-exported)
    FILL_VALUES, NORMALS, NUM_TASKS, TASK_NAMES,
)


def _masked_outputs(raw, palette, anchors):
    """Every task decoded, each kept where `palette` asks for it, plus `raw`."""
    outputs = {}
    for k, name in enumerate(TASK_NAMES):
        value = decode_tensor(raw, k, anchors)
        mask = tf.equal(palette, k)
        if k == NORMALS:
            mask = mask[..., None]
        outputs[name] = tf.where(mask, value, tf.cast(FILL_VALUES[k], value.dtype))
    outputs["raw"] = raw
    return outputs


class ServingModule(tf.Module):
    """The functions an export serves, each taking and returning dicts of tensors.

    - `composite(image, palette)`: `image` float32 `[B, H, W, 3]` RGB 0..255, `palette`
      int32 `[B, H, W]` task ids. Outputs `semseg`, `parts` (int32 class maps, 255 where
      the palette asks for another task), `edges`, `saliency` (probabilities, -1
      elsewhere), `normals` (unit vectors, 0 elsewhere) and `raw` (`[B, H, W, C]`).
    - `single_task(image, task)`: `task` int32 `[B]`, one task over each whole image;
      same outputs.
    - `encoded_image(image_bytes, palette)`: `image_bytes` string `[B]` (JPEG or PNG,
      RGB or grey, exactly H×W); same outputs as `composite`.
    - `all_tasks(image)`: every task over the whole image: the five decoded maps
      unmasked and `raw` `[B, K, H, W, C]`.
    - With a palette network (paper §6.2): `palette(image)` → `palette`, the int32
      `[B, H, W]` Task Palette it predicts; `predicted_palette(image)`: that palette and
      what the network predicts under it (the outputs of `composite`, plus `palette`).

    With `check_inputs` (the SavedModel) the spatial size may be anything in the
    signature and a wrong size, a palette of another shape or an id outside [0, K)
    fails with an `InvalidArgumentError` that says what was expected. Without it (for
    TFLite, which has neither `Assert` nor `EnsureShape`) the shapes are static and the
    caller must check (see `ct_keras.deploy.user_inputs`).

    Class maps are decoded with the model's anchors (`model.anchors`), baked into the
    graph as constants.

    Args:
        model: a `CompositeTaskingNet` (float32), or with `fast=False` any model taking
            `{"image", "palette"}` (CTN, MHN, MN).
        fast: serve `FastCompositeTasking(model)` (exact, less work) rather than the
            Keras graph itself.
        constant_weights: with `fast`, the weights are constants of the graphs rather
            than variables (`FastCompositeTasking`: faster under oneDNN, more memory).
        check_inputs: check shapes and ids in the graph (see above).
        palette_net: a trained `PaletteNet` of the same image size and tasks, or None.
        palette_source: what to call it in errors (its run folder, say).
    """

    def __init__(self, model, fast=True, check_inputs=True, palette_net=None,
                 palette_source="the palette network", constant_weights=False,
                 name="composite_tasking"):
        super().__init__(name=name)
        if not getattr(model, "uses_palette", False):
            raise ValueError(
                f"Only models that take a Task Palette can be exported. Received {type(model).__name__}"
            )
        self.image_hw = tuple(int(s) for s in model.image_hw)
        self.num_tasks = int(model.num_tasks)
        if self.num_tasks != NUM_TASKS:
            raise ValueError(
                f"Exports decode the {NUM_TASKS} tasks {TASK_NAMES}; the model has "
                f"num_tasks={self.num_tasks}"
            )
        self.fast = bool(fast)
        self.check_inputs = bool(check_inputs)
        # A plain attribute (not tracked): only the graph's constants are exported.
        object.__setattr__(self, "anchors", model.anchors)
        if self.fast:
            self.network = FastCompositeTasking(model, constant_weights=constant_weights)
        else:
            # Only the variables are saved (tracking the Keras model too would store every
            # weight twice); the TF variables, not Keras' wrappers, so that TFLite can freeze them.
            object.__setattr__(self, "_keras_model", model)
            self.model_variables = [v.value for v in model.variables]
        self.palette_network = None
        if palette_net is not None:
            self.palette_network = PaletteModule(palette_net, self.image_hw, self.num_tasks, palette_source)

    # ----- the raw network -------------------------------------------------------------
    def _raw_composite(self, image, palette):
        if self.fast:
            return self.network.composite(image, palette)
        return self._keras_model({"image": image, "palette": palette}, training=False)

    def _raw_single_task(self, image, task):
        if self.fast:
            return self.network.single_task(image, task)
        height, width = self.image_hw
        palette = tf.broadcast_to(task[:, None, None], [tf.shape(task)[0], height, width])
        return self._raw_composite(image, palette)

    def _raw_all_tasks(self, image):
        if self.fast:
            return self.network.all_tasks(image)
        height, width = self.image_hw
        batch = tf.shape(image)[0]
        raws = [self._raw_composite(image, tf.fill([batch, height, width], k))
                for k in range(self.num_tasks)]
        return tf.stack(raws, axis=1)

    # ----- input checks ----------------------------------------------------------------
    def _checked(self, value, condition, message, name):
        """`value`, computed only after `condition` held (else an error with `message`)."""
        check = tf.debugging.Assert(condition, message, name=name)
        with tf.control_dependencies([check]):
            return tf.identity(value)

    def _check_image(self, image):
        height, width = self.image_hw
        if not self.check_inputs:
            return image
        shape = tf.shape(image)
        image = self._checked(
            image, tf.reduce_all(tf.equal(shape[1:3], [height, width])),
            [f"`image` must be {height}x{width} (the size this model was exported at); "
             "received height, width:", shape[1], shape[2]],
            "check_image_size")
        return tf.ensure_shape(image, [None, height, width, 3])

    def _check_palette(self, palette, batch):
        height, width = self.image_hw
        if not self.check_inputs:
            return palette
        shape = tf.shape(palette)
        palette = self._checked(
            palette, tf.reduce_all(tf.equal(shape, tf.stack([batch, height, width]))),
            [f"`palette` must have shape [batch, {height}, {width}] to match the image; "
             "received shape:", shape],
            "check_palette_shape")
        return tf.ensure_shape(self._check_ids(palette, "palette"), [None, height, width])

    def _check_ids(self, ids, name):
        if not self.check_inputs:
            return ids
        low, high = tf.reduce_min(ids), tf.reduce_max(ids)
        return self._checked(
            ids, tf.logical_or(tf.equal(tf.size(ids), 0),
                               tf.logical_and(low >= 0, high < self.num_tasks)),
            [f"`{name}` must hold task ids in [0, {self.num_tasks}) "
             f"({', '.join(f'{k} {n}' for k, n in enumerate(TASK_NAMES))}); received ids in "
             "[min, max] =", low, high],
            f"check_{name}_ids")

    # ----- the served functions ----------------------------------------------------------
    def composite(self, image, palette):
        image = self._check_image(tf.cast(image, tf.float32))
        palette = self._check_palette(tf.cast(palette, tf.int32), tf.shape(image)[0])
        return _masked_outputs(self._raw_composite(image, palette), palette, self.anchors)

    def single_task(self, image, task):
        image = self._check_image(tf.cast(image, tf.float32))
        task = tf.cast(task, tf.int32)
        if self.check_inputs:
            task = self._checked(
                task, tf.equal(tf.shape(task)[0], tf.shape(image)[0]),
                ["`task` must hold one task id per image; received batch sizes (task, image):",
                 tf.shape(task)[0], tf.shape(image)[0]],
                "check_task_shape")
        task = self._check_ids(task, "task")
        height, width = self.image_hw
        palette = tf.broadcast_to(task[:, None, None], [tf.shape(task)[0], height, width])
        return _masked_outputs(self._raw_single_task(image, task), palette, self.anchors)

    def encoded_image(self, image_bytes, palette):
        return self.composite(self._decode_images(image_bytes), palette)

    def _decode_images(self, image_bytes):
        height, width = self.image_hw

        def decode(data):
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
            # Cropped or padded to the model's size so that the batch stacks; the sizes
            # are checked below, outside the loop (an Assert inside it does not gate).
            fixed = tf.image.resize_with_crop_or_pad(image, height, width)
            return tf.cast(fixed, tf.float32), tf.shape(image)[:2]

        images, sizes = tf.map_fn(
            decode, image_bytes,
            fn_output_signature=(tf.TensorSpec([height, width, 3], tf.float32),
                                 tf.TensorSpec([2], tf.int32)))
        if self.check_inputs:
            images = self._checked(
                images, tf.reduce_all(tf.equal(sizes, [height, width])),
                [f"`image_bytes` must decode to {height}x{width} images (the size this model "
                 "was exported at); received [height, width] per image:", sizes],
                "check_encoded_image_size")
        return images

    def all_tasks(self, image):
        image = self._check_image(tf.cast(image, tf.float32))
        raw = self._raw_all_tasks(image)
        outputs = {name: decode_tensor(raw[:, k], k, self.anchors) for k, name in enumerate(TASK_NAMES)}
        outputs["raw"] = raw
        return outputs

    def palette(self, image):
        image = self._check_image(tf.cast(image, tf.float32))
        return {"palette": self.palette_network.palette(image)}

    def predicted_palette(self, image):
        image = self._check_image(tf.cast(image, tf.float32))
        palette = self.palette_network.palette(image)
        outputs = _masked_outputs(self._raw_composite(image, palette), palette, self.anchors)
        outputs["palette"] = palette
        return outputs

    # ----- signatures --------------------------------------------------------------------
    def signatures(self, batch_size=None):
        """`{signature key: concrete function}` for `tf.saved_model.save`.

        With `check_inputs` the height and width are left free in the signatures (the
        graph checks them); otherwise they are static and only `serving_default` and
        `single_task` are made (the ones TFLite can run: no string decoding; the palette
        network goes to its own TFLite file, `PaletteModule`). `palette` and
        `predicted_palette` are made when the module has a palette network.
        """
        height, width = self.image_hw
        hw = (None, None) if self.check_inputs else (height, width)
        image = tf.TensorSpec([batch_size, *hw, 3], tf.float32, name="image")
        palette = tf.TensorSpec([batch_size, *hw], tf.int32, name="palette")
        task = tf.TensorSpec([batch_size], tf.int32, name="task")
        def serving_default(image, palette):
            return self.composite(image, palette)

        def single_task(image, task):
            return self.single_task(image, task)

        def encoded_image(image_bytes, palette):
            return self.encoded_image(image_bytes, palette)

        def all_tasks(image):
            return self.all_tasks(image)

        functions = {"serving_default": (serving_default, [image, palette]),
                     "single_task": (single_task, [image, task])}
        if self.check_inputs:
            functions["encoded_image"] = (
                encoded_image, [tf.TensorSpec([batch_size], tf.string, name="image_bytes"), palette])
            functions["all_tasks"] = (all_tasks, [image])
            if self.palette_network is not None:
                functions["palette"] = (self.palette, [image])
                functions["predicted_palette"] = (self.predicted_palette, [image])
        return {key: tf.function(fn, input_signature=spec, autograph=False).get_concrete_function()
                for key, (fn, spec) in functions.items()}

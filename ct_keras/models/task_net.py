"""What every CompositeTasking model shares: static input sizes, input validation, class anchors."""

import json

import keras
import numpy as np
import tensorflow as tf

from ct_keras.tasks import anchor_matrix, check_anchors, check_task_ids


def image_hw(image_size):
    """`image_size` (int or (H, W)) → (H, W), both multiples of 32."""
    sizes = (image_size, image_size) if isinstance(image_size, int) else image_size
    try:
        height, width = (int(s) for s in sizes)
    except (TypeError, ValueError):
        raise ValueError(
            f"`image_size` must be an int or a pair (H, W). Received {image_size!r}"
        ) from None
    if height <= 0 or width <= 0 or height % 32 or width % 32:
        raise ValueError(
            "`image_size` must be positive multiples of 32 (the encoder has stride 32). "
            f"Received {image_size!r}"
        )
    return height, width


def model_inputs(image_size, with_palette=True):
    """The symbolic `image` (and `palette`) inputs of a model of this size."""
    height, width = image_hw(image_size)
    image = keras.Input((height, width, 3), name="image")
    if not with_palette:
        return image
    return image, keras.Input((height, width), dtype="int32", name="palette")


def _concrete(value):
    if isinstance(value, np.ndarray):
        return value
    if tf.is_tensor(value) and tf.executing_eagerly() and hasattr(value, "numpy"):
        return value.numpy()
    return None


class TaskNet(keras.Model):
    """Base of the models: checks inputs before they reach TensorFlow.

    A wrong image or palette shape is a `ValueError` in eager and graph mode alike; a
    palette id outside [0, num_tasks) is one whenever the palette is concrete (eager
    calls and `predict` on arrays). Inside a traced graph such ids embed to zero, as
    in the reference.

    Every model carries the class anchors it is trained and decoded with (`anchors`,
    a constructor argument stored in its config: `model.json`, `.keras`, exports).
    """

    uses_palette = True

    def _store_config(self, config):
        """Keeps the constructor arguments as attributes; `get_config` returns them."""
        config = {k: v for k, v in config.items() if k not in ("self", "kwargs", "__class__")}
        for key, value in config.items():
            if key == "anchors":  # kept as JSON: a plain value, never a tracked container
                self._anchors_json = json.dumps(check_anchors(value), sort_keys=True)
            else:
                setattr(self, key, value)
        self._config_keys = tuple(config)
        self.image_hw = image_hw(self.image_size)

    @property
    def anchors(self):
        """The class anchors: `{"semseg": {class: [x1, x2, x3]}, "parts": {…}}` in 0..255 (a copy).

        Everything that trains, scores, decodes or draws this model's class maps reads them
        here (`tasks.decode(raw, task, model.anchors)`, `CompositeLoss(anchors=…)`).
        """
        return json.loads(self._anchors_json)

    def anchor_matrix(self, task):
        """`[num_classes, 3]` float32 anchors of `task` in 0..1 (`tasks.anchor_matrix`)."""
        return anchor_matrix(task, self.anchors)

    def get_config(self):
        config = {key: getattr(self, key) for key in self._config_keys}
        config.update({"name": self.name, "trainable": self.trainable})
        return config

    def _check_inputs(self, inputs):
        height, width = self.image_hw
        if self.uses_palette:
            if not isinstance(inputs, dict) or set(inputs) != {"image", "palette"}:
                got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
                raise ValueError(
                    f"{type(self).__name__} takes a dict with keys 'image' and 'palette'. "
                    f"Received {got}"
                )
            image, palette = inputs["image"], inputs["palette"]
        else:
            image, palette = (inputs["image"] if isinstance(inputs, dict) else inputs), None
        shape = tuple(image.shape)
        if len(shape) != 4 or tuple(shape[1:]) != (height, width, 3):
            raise ValueError(
                f"`image` must have shape [batch, {height}, {width}, 3] (RGB, 0..255). "
                f"Received shape {list(shape)}"
            )
        if palette is None:
            return
        pshape = tuple(palette.shape)
        if len(pshape) != 3 or tuple(pshape[1:]) != (height, width) or pshape[0] != shape[0]:
            raise ValueError(
                f"`palette` must have shape [{shape[0]}, {height}, {width}] to match the image. "
                f"Received shape {list(pshape)}"
            )
        values = _concrete(palette)
        if values is not None and values.size:
            check_task_ids(values, "palette", self.num_tasks)

    def __call__(self, inputs, *args, **kwargs):
        # Before Keras' own input-spec check, so that users get one clear message.
        self._check_inputs(inputs)
        if not self.uses_palette and isinstance(inputs, dict):
            inputs = inputs["image"]
        return super().__call__(inputs, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        if isinstance(x, (dict, np.ndarray)) or tf.is_tensor(x):
            self._check_inputs(x)
        return super().predict(x, *args, **kwargs)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

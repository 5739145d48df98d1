import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ct_keras")
class PaletteSelect(keras.layers.Layer):
    """Composes per-task outputs by the Task Palette: pixel (y, x) takes output t_yx.

    Used by the baselines that predict every task separately (MHN, MN). Pixels whose id
    names no task get `fill_value` (the reference uses -1).

    Args:
        fill_value: value of pixels whose palette id names no output.

    Example:
    >>> PaletteSelect()([palette, out_semseg, out_parts])
    """

    def __init__(self, fill_value=-1.0, **kwargs):
        super().__init__(**kwargs)
        self.fill_value = fill_value

    def call(self, inputs):
        palette, outputs = inputs[0], inputs[1:]
        palette = ops.expand_dims(palette, -1)
        result = ops.full_like(outputs[0], self.fill_value)
        for k, out in enumerate(outputs):
            result = ops.where(ops.equal(palette, k), out, result)
        return result

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        config = super().get_config()
        config.update({"fill_value": self.fill_value})
        return config

import keras
from keras import ops


def leaky_relu(x, negative_slope):
    # Written as max(x, a·x) on purpose: TF 2.21's grappler remapper fuses
    # conv + bias + LeakyRelu into a oneDNN op that ignores the requested slope
    # (docs/design.md §7). max(x, a·x) is exact for 0 <= a <= 1 and is never fused that way.
    return ops.maximum(x, ops.multiply(x, ops.cast(negative_slope, x.dtype)))


@keras.saving.register_keras_serializable(package="ct_keras")
class LeakyReLU(keras.layers.Layer):
    """Leaky ReLU that stays correct inside TF graphs on CPU.

    Args:
        negative_slope: float in [0, 1], the slope for negative inputs.

    Example:
    >>> LeakyReLU(0.01)(keras.ops.array([-1.0, 2.0]))
    """

    def __init__(self, negative_slope=0.01, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= negative_slope <= 1.0:
            raise ValueError(
                f"`negative_slope` must be in [0, 1]. Received {negative_slope}"
            )
        self.negative_slope = negative_slope

    def call(self, inputs):
        return leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"negative_slope": self.negative_slope})
        return config

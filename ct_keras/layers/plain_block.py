import keras

from ct_keras.layers.leaky_relu import leaky_relu
from ct_keras.layers.torch_init import torch_bias_initializer, torch_kernel_initializer


@keras.saving.register_keras_serializable(package="ct_keras")
class PlainBlock(keras.layers.Layer):
    """The unconditioned block of the baselines: conv → BatchNorm → LeakyReLU(0.01).

    STN and MHN use it wherever the CompositeTasking network has a `TaskComposition`
    block (paper §5.2).

    Args:
        filters: output channels.
        kernel_size: convolution kernel size (odd).
        negative_slope: slope of the activation.

    Example:
    >>> PlainBlock(64, 3)(keras.ops.ones((1, 32, 32, 16))).shape
    (1, 32, 32, 64)
    """

    def __init__(self, filters, kernel_size=3, negative_slope=0.01, **kwargs):
        super().__init__(**kwargs)
        if kernel_size % 2 != 1:
            raise ValueError(f"`kernel_size` must be odd. Received {kernel_size}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.negative_slope = negative_slope

    def build(self, input_shape):
        fan_in = input_shape[-1] * self.kernel_size**2
        self.conv = keras.layers.Conv2D(
            self.filters, self.kernel_size, padding="same",
            kernel_initializer=torch_kernel_initializer(),
            bias_initializer=torch_bias_initializer(fan_in),
            dtype=self.dtype_policy, name="conv",
        )
        self.conv.build(input_shape)
        # `norm`: public, `training.distribution.batch_norm_layers` finds it by this name.
        self.norm = keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, dtype=self.dtype_policy, name="norm"
        )
        self.norm.build(input_shape[:-1] + (self.filters,))

    def call(self, inputs, training=None):
        x = self.norm(self.conv(inputs), training=training)
        return leaky_relu(x, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1] + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "negative_slope": self.negative_slope,
        })
        return config

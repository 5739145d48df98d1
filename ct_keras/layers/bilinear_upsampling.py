import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="ct_keras")
class BilinearUpsampling2D(keras.layers.Layer):
    """×2 bilinear upsampling with `align_corners=True`, as the reference decoder uses.

    Keras' own resize has no `align_corners`; TF's resize op has it and maps to the
    builtin TFLite RESIZE_BILINEAR. Inputs need static spatial shapes (docs/design.md §7).

    Args:
        size: integer upsampling factor.
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            raise ValueError(
                "BilinearUpsampling2D needs static spatial shapes. "
                f"Received shape {inputs.shape}"
            )
        # The TF kernel computes in float32 whatever the input; keep the layer's dtype.
        out = tf.raw_ops.ResizeBilinear(
            images=inputs, size=(height * self.size, width * self.size),
            align_corners=True, half_pixel_centers=False,
        )
        return ops.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h * self.size, None if w is None else w * self.size, c)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size})
        return config

import keras
from keras import ops

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="ct_keras")
class ImageNormalization(keras.layers.Layer):
    """Maps RGB images in 0..255 to ImageNet-normalised values, as torchvision does.

    Args:
        mean: per-channel mean of images scaled to 0..1.
        std: per-channel standard deviation of images scaled to 0..1.
    """

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        scale = ops.array([1.0 / (255.0 * s) for s in self.std], dtype=self.compute_dtype)
        shift = ops.array([m / s for m, s in zip(self.mean, self.std)], dtype=self.compute_dtype)
        return x * scale - shift

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mean": self.mean, "std": self.std})
        return config

import keras

# torchvision's ResNet variants: (block kind, blocks per stage).
RESNET_CONFIGS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)


def _conv(x, filters, kernel_size, stride, name):
    # PyTorch pads symmetrically; TF's "same" pads (0, 1) at stride 2. Pad explicitly.
    if stride > 1 and kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return keras.layers.Conv2D(
        filters, kernel_size, strides=stride, padding=padding, use_bias=False, name=name
    )(x)


def _bn(x, name):
    # PyTorch BatchNorm2d defaults: eps 1e-5, momentum 0.1 (0.9 in Keras' convention).
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)(x)


def _basic_block(x, planes, stride, name):
    shortcut = x
    y = keras.layers.ReLU(name=f"{name}_relu1")(_bn(_conv(x, planes, 3, stride, f"{name}_conv1"), f"{name}_bn1"))
    y = _bn(_conv(y, planes, 3, 1, f"{name}_conv2"), f"{name}_bn2")
    if stride != 1 or x.shape[-1] != planes:
        shortcut = _bn(_conv(x, planes, 1, stride, f"{name}_downsample_0"), f"{name}_downsample_1")
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([y, shortcut]))


def _bottleneck_block(x, planes, stride, name):
    # torchvision's "ResNet v1.5": the stride sits on the 3×3 convolution.
    shortcut = x
    y = keras.layers.ReLU(name=f"{name}_relu1")(_bn(_conv(x, planes, 1, 1, f"{name}_conv1"), f"{name}_bn1"))
    y = keras.layers.ReLU(name=f"{name}_relu2")(_bn(_conv(y, planes, 3, stride, f"{name}_conv2"), f"{name}_bn2"))
    y = _bn(_conv(y, planes * 4, 1, 1, f"{name}_conv3"), f"{name}_bn3")
    if stride != 1 or x.shape[-1] != planes * 4:
        shortcut = _bn(_conv(x, planes * 4, 1, stride, f"{name}_downsample_0"), f"{name}_downsample_1")
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([y, shortcut]))


@keras.saving.register_keras_serializable(package="ct_keras")
class ResNetBackbone(keras.Model):
    """A torchvision-layout ResNet (18/34/50/101) returning its feature pyramid.

    The encoder of every CompositeTasking model. Layer names follow torchvision's
    parameter names with `_` for `.` (`layer1_0_conv1` ↔ `layer1.0.conv1`), so ImageNet
    checkpoints of torchvision or timm load by name (`tools/import_torch_checkpoint.py`).
    The model's outputs are the pyramid `{"P1": stride 2, …, "P5": stride 32}`, i.e.
    conv1+bn+relu, maxpool+layer1, layer2, layer3 and layer4.

    Args:
        depth: one of `"resnet18"`, `"resnet34"`, `"resnet50"`, `"resnet101"`.
        image_shape: input shape `(H, W, 3)` of ImageNet-normalised images.

    Example:
    >>> backbone = ResNetBackbone("resnet18", image_shape=(64, 64, 3))
    >>> backbone(keras.ops.zeros((1, 64, 64, 3)))["P5"].shape
    (1, 2, 2, 512)
    """

    def __init__(self, depth="resnet34", image_shape=(None, None, 3), **kwargs):
        if depth not in RESNET_CONFIGS:
            raise ValueError(
                f"`depth` must be one of {sorted(RESNET_CONFIGS)}. Received {depth!r}"
            )
        kind, blocks = RESNET_CONFIGS[depth]
        block_fn = _basic_block if kind == "basic" else _bottleneck_block

        inputs = keras.Input(shape=tuple(image_shape), name="image")
        x = _bn(_conv(inputs, 64, 7, 2, "conv1"), "bn1")
        p1 = keras.layers.ReLU(name="relu")(x)
        # After the ReLU every value is >= 0, so zero padding is as good as -inf padding.
        x = keras.layers.ZeroPadding2D(1, name="maxpool_pad")(p1)
        x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
        pyramid = {"P1": p1}
        for stage, (planes, count) in enumerate(zip(STAGE_WIDTHS, blocks)):
            for b in range(count):
                stride = 2 if (b == 0 and stage > 0) else 1
                x = block_fn(x, planes, stride, f"layer{stage + 1}_{b}")
            pyramid[f"P{stage + 2}"] = x

        kwargs.setdefault("name", depth)
        super().__init__(inputs=inputs, outputs=pyramid, **kwargs)
        self.depth = depth
        self.image_shape = tuple(image_shape)
        self.pyramid_outputs = pyramid

    @property
    def pyramid_channels(self):
        """Channels of P1 … P5."""
        return {k: v.shape[-1] for k, v in self.pyramid_outputs.items()}

    def get_config(self):
        return {"depth": self.depth, "image_shape": self.image_shape, "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

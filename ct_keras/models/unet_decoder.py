"""The U-Net decoder topology shared by every model of the paper (§3.1, Fig. 2)."""

import keras

from ct_keras.layers.bilinear_upsampling import BilinearUpsampling2D
from ct_keras.layers.plain_block import PlainBlock

# Output channels of the decoder blocks at strides 16, 8, 4, 2 and 1 (docs/design.md §2).
DECODER_WIDTHS = (512, 256, 256, 128, 64)
# Hidden width of the conditioning at pyramid level l (stride 2^l).
HIDDEN_DIMS = (128, 128, 128, 256, 256, 256)


def unet_decoder(image, pyramid, make_block, output_channels=3, skip_kernel_size=1,
                 decoder_kernel_size=3, prefix="", head_bias=0.0):
    """Builds the decoder on symbolic tensors and returns the raw `[B, H, W, C]` output.

    Args:
        image: the normalised input image (it has its own two-block skip at stride 1).
        pyramid: `{"P1": …, "P5": …}` encoder features at strides 2 … 32.
        make_block: `make_block(filters, kernel_size, level, name)` → a callable on a
            feature tensor: a `TaskComposition` bound to the embedding at `level`, or
            a `PlainBlock`.
        output_channels: channels of the head (paper Table 13 ablates 3/6/9).
        skip_kernel_size, decoder_kernel_size: kernels on skips and in the decoder.
        prefix: prefix of layer names (one per decoder in a multi-head model).
        head_bias: initial bias of the head (0: Keras' default). A negative value starts
            sigmoid(raw) near 0: the black background anchor of semseg and parts, no
            edge, not salient — what most pixels are.
    """
    def block(filters, kernel_size, level, name):
        return make_block(filters, kernel_size, level, prefix + name)

    p1_channels = pyramid["P1"].shape[-1]
    image_skip = block(p1_channels, decoder_kernel_size, 0, "image_block_0")(image)
    image_skip = block(p1_channels, decoder_kernel_size, 0, "image_block_1")(image_skip)
    skips = {
        level: block(pyramid[f"P{level}"].shape[-1], skip_kernel_size, level, f"skip_{level}")(
            pyramid[f"P{level}"]
        )
        for level in range(1, 6)
    }
    x = skips[5]
    for level, width in zip(range(4, -1, -1), DECODER_WIDTHS):
        x = BilinearUpsampling2D(2, name=f"{prefix}upsample_{level}")(x)
        skip = skips[level] if level > 0 else image_skip
        x = keras.layers.Concatenate(name=f"{prefix}concat_{level}")([x, skip])
        x = block(width, decoder_kernel_size, level, f"decoder_{level}")(x)
    x = keras.layers.Conv2D(output_channels, 1, name=f"{prefix}head",
                            bias_initializer=keras.initializers.Constant(float(head_bias)))(x)
    # Outputs stay float32 under mixed precision, for the losses and the exports.
    return keras.layers.Activation("linear", dtype="float32", name=f"{prefix}raw")(x)


def plain_block(filters, kernel_size, level, name):
    """`make_block` of the baselines: a `PlainBlock`, whatever the level."""
    return PlainBlock(filters, kernel_size, name=name)

"""A k×k convolution of a ×2 bilinear upsampling, computed without upsampling its input.

Each decoder block convolves `concat[upsample(y), skip]`. The convolution of the
upsampled half is linear in `y`, and so is the upsampling; every tap's channel mixing
commutes with the (per-channel, spatial) upsampling. So

    conv_k×k(U(y); W) = Σ_{a,b} shift_{a,b}(U(y · W_{a,b}))

and the k² channel mixings `y · W_{a,b}` (one 1×1 convolution with k²·C_out outputs)
run at the low resolution: a quarter of the multiply-adds. The bilinear upsampling is
separable, so the width pass runs on the k² tap groups and sums them along the width
(shifted), and the height pass runs on k groups only. Zero padding stays exact: the
shifted, upsampled maps are zero outside the image, as the padded input would be.
Same numbers as upsample-then-convolve up to float32 rounding; TFLite builtins only
(1×1 CONV_2D, RESIZE_BILINEAR, PAD, STRIDED_SLICE, ADD, CONCATENATION).
"""

import numpy as np
import tensorflow as tf


def stack_taps(kernel):
    """`[k, k, C_in, C_out]` → `[1, 1, C_in, k·k·C_out]`, output channels ordered (a, b, c)."""
    k, _, c_in, c_out = kernel.shape
    return np.transpose(kernel, (2, 0, 1, 3)).reshape(1, 1, c_in, k * k * c_out)


def _resize(x, height, width):
    # align_corners=True, like `BilinearUpsampling2D`; a side that keeps its size is unchanged.
    return tf.raw_ops.ResizeBilinear(images=x, size=(height, width), align_corners=True,
                                     half_pixel_centers=False)


def _shifted_sums(x, k, axis, channels):
    """`[Σ_g shift_{g−k//2}(group (r·k + g) of x) for r in rows]` along `axis` (1 or 2).

    `x` holds `rows·k` channel groups of `channels`; shifts pad with zeros. Slicing the
    padded tensor once per group (no split) keeps the copies few.
    """
    pad = k // 2
    paddings = [[0, 0]] * 4
    paddings[axis] = [pad, pad]
    padded = tf.pad(x, paddings)
    size = x.shape[axis]
    sums = []
    for r in range(x.shape[-1] // (k * channels)):
        total = None
        for g in range(k):
            c = (r * k + g) * channels
            piece = (padded[:, g:g + size, :, c:c + channels] if axis == 1
                     else padded[:, :, g:g + size, c:c + channels])
            total = piece if total is None else total + piece
        sums.append(total)
    return sums


def upsample_conv(low, stacked_kernel, kernel_size):
    """`conv_k×k(upsample×2(low))` with 'same' padding, from `stack_taps(kernel)`.

    Args:
        low: `[B, h, w, C_in]` (static h, w).
        stacked_kernel: `[1, 1, C_in, k·k·C_out]` from `stack_taps`.
        kernel_size: k (odd).

    Returns:
        `[B, 2h, 2w, C_out]`, without bias.
    """
    k = kernel_size
    height, width = 2 * low.shape[1], 2 * low.shape[2]
    taps = tf.nn.conv2d(low, stacked_kernel, 1, "VALID")         # [B, h, w, k·k·C_out]
    if k == 1:
        return _resize(taps, height, width)
    c_out = stacked_kernel.shape[-1] // (k * k)
    wide = _resize(taps, low.shape[1], width)                      # width pass on the k·k taps
    rows = tf.concat(_shifted_sums(wide, k, 2, c_out), axis=-1)     # [B, h, 2w, k·C_out]: row taps
    tall = _resize(rows, height, width)                             # height pass on k groups
    return _shifted_sums(tall, k, 1, c_out)[0]

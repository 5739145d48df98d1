"""The exact algebra behind the fast inference path (DESIGN §2, last bullet), in numpy.

Everything here rewrites trained weights into fewer operations with the same outputs
(up to float32 rounding); nothing is approximated.

- BatchNorm in inference is a per-channel affine map, so it folds into the convolution
  before it (`fold_batch_norm`); so does the ImageNet normalisation of the input
  (`fold_input_normalization`).
- In a `TaskComposition` block, `BN(conv(x) + b)·γ + β` with BN without scale/offset is
  `conv(x)·γ/σ + (β + γ·(b − μ)/σ)`: the statistics and the conv bias move into the γ and
  β convolutions (`fold_task_composition`).
- The first shared 1×1 convolution acts on the palette embedding, which is the pooled
  one-hot palette times the K task vectors. Being linear, it equals the pooled one-hot
  times a K×hidden table; its bias joins the table because the pooled one-hot sums to 1.
- Wherever the (pooled) palette is one-hot, the whole modulation is a function of the
  task alone: a K-row table of the folded γ and β.
"""

import dataclasses

import numpy as np

from ct_keras.models.resnet_backbone import RESNET_CONFIGS


def _numpy(variable):
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, np.float64)


def batch_norm_affine(layer):
    """A Keras `BatchNormalization` in inference as `(scale, shift)`: y = x·scale + shift."""
    inv = 1.0 / np.sqrt(_numpy(layer.moving_variance) + layer.epsilon)
    scale = inv * (_numpy(layer.gamma) if layer.scale else 1.0)
    shift = (_numpy(layer.beta) if layer.center else 0.0) - _numpy(layer.moving_mean) * scale
    return scale, shift


def fold_batch_norm(conv, norm):
    """`(kernel, bias)` of one convolution equal to `norm(conv(x))` in inference."""
    kernel = _numpy(conv.kernel)
    bias = _numpy(conv.bias) if conv.use_bias else 0.0
    scale, shift = batch_norm_affine(norm)
    return kernel * scale, bias * scale + shift


def fold_input_normalization(kernel, std):
    """A kernel acting on `x − 255·mean` equal to `kernel` acting on `(x/255 − mean)/std`.

    Zero padding stays exact: a zero of the normalised image is a zero of `x − 255·mean`.
    """
    return kernel / (255.0 * np.asarray(std, np.float64))[None, None, :, None]


@dataclasses.dataclass
class FoldedConv:
    """A convolution with its bias: `kernel` `[k, k, in, out]`, `bias` `[out]`, `stride`."""

    kernel: np.ndarray
    bias: np.ndarray
    stride: int = 1


def fold_resnet(backbone):
    """The encoder's convolutions with their BatchNorms folded in.

    Returns `{"conv1": FoldedConv, "blocks": [(name, {"conv1": …, "conv2": …,
    ["conv3": …], ["downsample": …]}), …]}` in forward order, following
    `ResNetBackbone`'s layer names.
    """
    kind, counts = RESNET_CONFIGS[backbone.depth]
    names = {layer.name for layer in backbone.layers}

    def folded(conv_name, bn_name, stride=1):
        kernel, bias = fold_batch_norm(backbone.get_layer(conv_name), backbone.get_layer(bn_name))
        return FoldedConv(kernel, bias, stride)

    blocks = []
    convs = ("conv1", "conv2") if kind == "basic" else ("conv1", "conv2", "conv3")
    strided = "conv1" if kind == "basic" else "conv2"  # torchvision v1.5: stride on the 3×3
    for stage, count in enumerate(counts):
        for b in range(count):
            name = f"layer{stage + 1}_{b}"
            stride = 2 if (b == 0 and stage > 0) else 1
            block = {c: folded(f"{name}_{c}", f"{name}_bn{c[-1]}", stride if c == strided else 1)
                     for c in convs}
            if f"{name}_downsample_0" in names:
                block["downsample"] = folded(f"{name}_downsample_0", f"{name}_downsample_1", stride)
            blocks.append((name, block))
    return {"conv1": folded("conv1", "bn1", 2), "blocks": blocks}


def _leaky(x, slope):
    return np.maximum(x, slope * x)


@dataclasses.dataclass
class FoldedTaskComposition:
    """A `TaskComposition` block rewritten for the fast path.

    The block computes `leaky(conv(x; kernel)·A + C)` where `[A | C]` is the modulation
    of each pixel:

    - `first_table` `[K, hidden]`: the first shared 1×1 conv applied to each task
      vector, its bias included (a pooled one-hot palette times it is exact).
    - `shared`: the further shared convs as `(weight [hidden, hidden], bias)`.
    - `modulation` `(weight [hidden, 2·filters], bias [2·filters])`: s → [A | C], with
      the BatchNorm statistics and the conv bias folded in.
    - `task_table` `[K, 2·filters]`: [A | C] of a pixel whose pooled palette is the
      one-hot of a single task (always so at stride 1, and everywhere for a uniform
      palette).
    """

    kernel: np.ndarray
    first_table: np.ndarray
    shared: list
    modulation: tuple
    task_table: np.ndarray
    negative_slope: float

    @property
    def filters(self):
        return self.kernel.shape[-1]

    def task_kernel(self, task):
        """`(kernel, bias)` of one convolution that is the whole block (before the
        activation) for a palette uniformly equal to `task`: γ/β folded into the conv."""
        scale, shift = np.split(self.task_table[task], 2)
        return self.kernel * scale, shift


def fold_task_composition(block, task_vectors):
    """Folds a built `TaskComposition` layer given the `[K, D]` task vectors e_k."""
    slope = block.negative_slope
    kernel = _numpy(block.conv.kernel)
    conv_bias = _numpy(block.conv.bias)
    norm = block.norm
    inv_std = 1.0 / np.sqrt(_numpy(norm.moving_variance) + norm.epsilon)
    offset = (conv_bias - _numpy(norm.moving_mean)) * inv_std  # BN(conv + b) = conv·inv_std + offset

    def dense(conv):
        return _numpy(conv.kernel)[0, 0], _numpy(conv.bias)

    w0, b0 = dense(block.shared_convs[0])
    first_table = np.asarray(task_vectors, np.float64) @ w0 + b0
    shared = [dense(conv) for conv in block.shared_convs[1:]]
    wg, bg = dense(block.gamma_conv)
    wb, bb = dense(block.beta_conv)
    # (BN(conv)·γ + β) = conv·(γ·inv_std) + (β + γ·offset), γ and β affine in s.
    weight = np.concatenate([wg * inv_std, wb + wg * offset], axis=1)
    bias = np.concatenate([bg * inv_std, bb + bg * offset])

    s = _leaky(first_table, slope)
    for w, b in shared:
        s = _leaky(s @ w + b, slope)
    task_table = s @ weight + bias
    return FoldedTaskComposition(kernel, first_table, shared, (weight, bias), task_table, slope)

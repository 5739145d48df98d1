"""The exact algebra behind the fast inference path (docs/design.md §2, last bullet), in numpy.

Everything here rewrites trained weights into fewer operations with the same outputs
(up to float32 rounding); nothing is approximated.

- BatchNorm in inference is a per-channel affine map, so it folds into the convolution
  before it (`fold_batch_norm`); so does the ImageNet normalisation of the input
  (`fold_input_normalization`).
- In a `TaskComposition` block, `BN(conv(x) + b)·γ + β` with BN without scale/offset is
  `conv(x; W/σ)·γ + (β + γ·(b − μ)/σ)`: 1/σ goes into the kernel (so that the conv's
  output stays normalised, which int8 quantization needs) and the statistics and the
  conv bias into the β convolution (`fold_task_composition`).
- The first shared 1×1 convolution acts on the palette embedding, which is the pooled
  one-hot palette times the K task vectors. Being linear, it equals the pooled one-hot
  times a K×hidden table; its bias joins the table because the pooled one-hot sums to 1.
- Wherever the (pooled) palette is one-hot, the whole modulation is a function of the
  task alone: a K-row table of the folded γ and β.
- At stride 2 a pixel's pooled palette is the mix of a 2×2 cell: one of few count
  vectors, so the modulation there is a table too, indexed by the cell's counts
  (`cell_mixes`).
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

    The block computes `leaky(conv(x; kernel)·A + C)` where `kernel` is the conv kernel
    divided by the BatchNorm's σ (no bias) and `[A | C]` = [γ | β + γ·(b − μ)/σ] is the
    modulation of each pixel:

    - `first_table` `[K, hidden]`: the first shared 1×1 conv applied to each task
      vector, its bias included (a pooled one-hot palette times it is exact).
    - `shared`: the further shared convs as `(weight [hidden, hidden], bias)`.
    - `modulation` `(weight [hidden, 2·filters], bias [2·filters])`: s → [A | C], with
      the BatchNorm mean and the conv bias folded in.
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

    def modulation_of(self, mixes):
        """`[N, 2·filters]` modulation [A | C] of pooled palettes `mixes` `[N, K]`."""
        s = _leaky(np.asarray(mixes, np.float64) @ self.first_table, self.negative_slope)
        for w, b in self.shared:
            s = _leaky(s @ w + b, self.negative_slope)
        weight, bias = self.modulation
        return s @ weight + bias


def fold_task_composition(block, task_vectors):
    """Folds a built `TaskComposition` layer given the `[K, D]` task vectors e_k."""
    slope = block.negative_slope
    conv_bias = _numpy(block.conv.bias)
    norm = block.norm
    inv_std = 1.0 / np.sqrt(_numpy(norm.moving_variance) + norm.epsilon)
    offset = (conv_bias - _numpy(norm.moving_mean)) * inv_std  # BN(conv + b) = conv·inv_std + offset
    kernel = _numpy(block.conv.kernel) * inv_std

    def dense(conv):
        return _numpy(conv.kernel)[0, 0], _numpy(conv.bias)

    w0, b0 = dense(block.shared_convs[0])
    first_table = np.asarray(task_vectors, np.float64) @ w0 + b0
    shared = [dense(conv) for conv in block.shared_convs[1:]]
    wg, bg = dense(block.gamma_conv)
    wb, bb = dense(block.beta_conv)
    # BN(conv)·γ + β = conv(W·inv_std)·γ + (β + γ·offset), with γ and β affine in s.
    weight = np.concatenate([wg, wb + wg * offset], axis=1)
    bias = np.concatenate([bg, bb + bg * offset])

    folded = FoldedTaskComposition(kernel, first_table, shared, (weight, bias), None, slope)
    folded.task_table = folded.modulation_of(np.eye(len(first_table)))
    return folded


def cell_mixes(num_tasks, cell_pixels=4):
    """Every pooled palette of a cell of `cell_pixels` pixels, indexed by a count code.

    Row `code` holds the mix with `c_k = (code // base**k) % base` pixels of task k for
    k < K−1 (base = cell_pixels + 1) and the rest of task K−1, divided by
    `cell_pixels`. Codes whose counts exceed the cell are never looked up.

    Returns:
        `[base**(K-1), K]` float64.
    """
    base = cell_pixels + 1
    codes = np.arange(base ** (num_tasks - 1))
    counts = (codes[:, None] // base ** np.arange(num_tasks - 1)) % base
    rest = cell_pixels - counts.sum(axis=1, keepdims=True)
    return np.concatenate([counts, rest], axis=1) / cell_pixels

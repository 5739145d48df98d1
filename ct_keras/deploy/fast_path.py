"""`FastCompositeTasking`: the exact fast inference path of a trained CompositeTaskingNet."""

import numpy as np
import tensorflow as tf

from ct_keras.deploy.folding import (
    cell_mixes, fold_input_normalization, fold_resnet, fold_task_composition,
)
from ct_keras.deploy.upsample_conv import stack_taps, upsample_conv

_LEVELS = range(1, 6)
# Stride-2 modulations are looked up by the 2×2 cell's task counts when the table
# ((4 + 1) ** (K − 1) rows) is at most this long.
_MAX_CELL_TABLE = 4096


def _block_level(name):
    """Pyramid level (stride 2^level) of a conditioned block, from its layer name."""
    return 0 if name.startswith("image_block") else int(name.rsplit("_", 1)[1])


def _leaky(x, slope):
    # max(x, a·x), never tf.nn.leaky_relu: docs/design.md §7 (a fused oneDNN op ignores the slope).
    return tf.maximum(x, x * slope)


def _conv(x, kernel, bias=None, stride=1):
    size = kernel.shape[0]
    if stride > 1 and size > 1:
        # Symmetric padding, as PyTorch and `ResNetBackbone` do.
        pad = size // 2
        x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        padding = "VALID"
    else:
        padding = "SAME"
    x = tf.nn.conv2d(x, kernel, stride, padding)
    return x if bias is None else tf.nn.bias_add(x, bias)


class FastCompositeTasking(tf.Module):
    """A trained `CompositeTaskingNet` rewritten to do less work for the same outputs.

    Built once from the model's weights (BatchNorms, the input normalisation, the conv
    biases and the task vectors are folded away; see `ct_keras.deploy.folding`), it
    computes the model's raw output with plain TensorFlow ops, so that it exports to
    SavedModel and TFLite without Keras:

    - `composite(image, palette)`: any Task Palette. At stride 1 the modulation γ, β of
      every block is a K-row table indexed by the palette, at stride 2 a table indexed
      by the task counts of each 2×2 cell; at coarser strides the first conditioning
      convolution is the pooled one-hot palette times a K-row table (5 instead of 128
      input channels).
    - `single_task(image, task)`: one task per image (`task` `[B]`): γ and β are
      per-channel constants of the task at every scale, a `[B, 1, 1, C]` affine.
    - `single_task_folded(image, task)`: one task for the whole batch (a Python int):
      γ and β are folded into the convolutions, each block is conv + bias + activation.
    - `all_tasks(image)`: every task everywhere, `[B, K, H, W, C]`, with one encoder
      pass and the K decoder passes batched together.

    The outputs equal `model(inputs, training=False)` to float32 rounding (tests check
    ≤ 1e-4). Palette ids must lie in [0, K): this class does not check them (the
    SavedModel export does, see `ct_keras.deploy.serving_module`).

    With `constant_weights` the weights are numpy arrays that the traced graphs hold as
    constants, not variables: oneDNN then keeps each convolution's filter in its own
    layout between calls instead of reordering it on every call (faster, at about three
    times the memory: BENCHMARKS.md, "A real AVX2-only box, and constant weights in the
    SavedModel"). The encoder and the two decoders (composite palettes; one task per
    image) are then `tf.function`s with fixed input signatures, traced once and called by
    every graph that uses them, so that an export of several signatures stores each
    weight once per function, not once per signature.

    Args:
        model: a built `CompositeTaskingNet` (any dtype policy; the fast path is float32).
        low_res_upsampling_conv: convolve the upsampled half of each decoder input at
            low resolution (`upsample_conv`); False keeps upsample → concat → conv.
        constant_weights: hold the weights as graph constants (see above); False keeps
            them as variables.

    Example:
    >>> fast = FastCompositeTasking(model)
    >>> raw = fast.composite(image, palette)      # == model({"image": image, "palette": palette})
    >>> every = fast.all_tasks(image)             # [B, 5, H, W, 3]
    """

    def __init__(self, model, low_res_upsampling_conv=True, constant_weights=False,
                 name="fast_composite_tasking"):
        super().__init__(name=name)
        from ct_keras.models import CompositeTaskingNet

        if not isinstance(model, CompositeTaskingNet):
            raise ValueError(
                "The fast path is for a CompositeTaskingNet; export other models through their "
                f"Keras graph (fast=False, --nofast). Received {type(model).__name__}"
            )
        self.image_hw = tuple(model.image_hw)
        self.low_res_upsampling_conv = bool(low_res_upsampling_conv)
        self.num_tasks = int(model.num_tasks)
        self.output_channels = int(model.output_channels)
        self.nearest_pyramid = model.pyramid_interpolation == "nearest"
        self.cell_tables = (not self.nearest_pyramid) and 5 ** (self.num_tasks - 1) <= _MAX_CELL_TABLE
        self.constant_weights = bool(constant_weights)
        self._params = {}
        self._folded = {}
        self._folded_tasks = {}
        with self.name_scope:
            self._fold(model)
        if self.constant_weights:
            self._share_functions()

    # ----- building ------------------------------------------------------------------
    def _variable(self, name, value):
        value = np.asarray(value, np.float32)
        if not self.constant_weights:
            value = tf.Variable(value, trainable=False, name=name)
        self._params[name] = value
        return value

    def _share_functions(self):
        """The encoder and both decoders as `tf.function`s of fixed signatures (each
        traced once: one copy of its constants however many graphs call it). They pass
        the pyramid as a tuple (a SavedModel's structures take string keys only) and are
        not tracked (`shared_functions`): only the graphs that call them are saved."""
        encode, decode_composite, decode_tasks = self.encode, self.decode_composite, self.decode_tasks
        height, width = self.image_hw
        levels = range(6)

        def as_tuple(features):
            return tuple(features[level] for level in levels)

        shared_encode = tf.function(
            lambda image: as_tuple(encode(image)), autograph=False,
            input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32)])
        features = tuple(tf.TensorSpec(t.shape, t.dtype)
                         for t in shared_encode.get_concrete_function().structured_outputs)
        shared_composite = tf.function(
            lambda features, palette: decode_composite(dict(enumerate(features)), palette),
            input_signature=[features, tf.TensorSpec([None, height, width], tf.int32)],
            autograph=False)
        shared_tasks = tf.function(
            lambda features, task: decode_tasks(dict(enumerate(features)), task),
            input_signature=[features, tf.TensorSpec([None], tf.int32)], autograph=False)
        untracked = {
            "shared_functions": (shared_encode, shared_composite, shared_tasks),
            "encode": lambda image: dict(enumerate(shared_encode(image))),
            "decode_composite": lambda features, palette: shared_composite(as_tuple(features), palette),
            "decode_tasks": lambda features, task: shared_tasks(as_tuple(features), task),
        }
        for name, value in untracked.items():
            object.__setattr__(self, name, value)

    def _fold(self, model):
        normalization = model.get_layer("image_normalization")
        self._variable("input_shift", 255.0 * np.asarray(normalization.mean))
        std = normalization.std
        encoder = fold_resnet(model.encoder)
        self._encoder_plan = []
        conv1 = encoder["conv1"]
        self._variable("encoder/conv1/kernel", fold_input_normalization(conv1.kernel, std))
        self._variable("encoder/conv1/bias", conv1.bias)
        for name, block in encoder["blocks"]:
            plan = {}
            for part, conv in block.items():
                self._variable(f"encoder/{name}/{part}/kernel", conv.kernel)
                self._variable(f"encoder/{name}/{part}/bias", conv.bias)
                plan[part] = conv.stride
            self._encoder_plan.append((name, plan))

        vectors = model.task_representation.task_vectors()
        vectors = np.asarray(vectors.numpy() if hasattr(vectors, "numpy") else vectors, np.float64)
        names = ["image_block_0", "image_block_1"] + [f"skip_{l}" for l in _LEVELS] + [
            f"decoder_{l}" for l in range(4, -1, -1)]
        for name in names:
            folded = fold_task_composition(model.get_layer(name), vectors)
            kernel = folded.kernel
            if name == "image_block_0":  # the normalised image is its input too
                kernel = fold_input_normalization(kernel, std)
                folded.kernel = kernel
            self._folded[name] = folded
            filters = folded.filters
            if name.startswith("decoder_") and self.low_res_upsampling_conv:
                # Input = concat[upsample(previous), skip]: the upsampled half is
                # convolved at low resolution (`upsample_conv`).
                level = _block_level(name)
                skip_channels = model.get_layer(f"skip_{level}" if level else "image_block_1").filters
                low_channels = kernel.shape[2] - skip_channels
                self._variable(f"{name}/upsampled_kernel", stack_taps(kernel[:, :, :low_channels]))
                kernel = kernel[:, :, low_channels:]
            self._variable(f"{name}/kernel", kernel)
            # Where the (pooled) palette is one-hot: a K-row table.
            self._variable(f"{name}/scale_table", folded.task_table[:, :filters])
            self._variable(f"{name}/shift_table", folded.task_table[:, filters:])
            level = _block_level(name)
            if level == 1 and self.cell_tables:  # stride 2: a table of 2×2 cell mixes
                cell_table = folded.modulation_of(cell_mixes(self.num_tasks))
                self._variable(f"{name}/cell_scale_table", cell_table[:, :filters])
                self._variable(f"{name}/cell_shift_table", cell_table[:, filters:])
            elif level > 1 and not self.nearest_pyramid:  # mixes of larger cells: the MLP
                self._variable(f"{name}/first_table", folded.first_table)
                for i, (w, b) in enumerate(folded.shared):
                    self._variable(f"{name}/shared_{i + 1}/weight", w)
                    self._variable(f"{name}/shared_{i + 1}/bias", b)
                weight, bias = folded.modulation
                self._variable(f"{name}/modulation/weight", weight)
                self._variable(f"{name}/modulation/bias", bias)
        head = model.get_layer("head")
        self._variable("head/kernel", head.kernel.numpy())
        self._variable("head/bias", head.bias.numpy())

    def _p(self, name):
        value = self._params[name]
        # A constant of the graph being traced (made from numpy, so never a captured tensor).
        return tf.constant(value) if isinstance(value, np.ndarray) else value

    def _numpy(self, name):
        return np.asarray(self._params[name])

    # ----- encoder -------------------------------------------------------------------
    def encode(self, image):
        """`{0: the shifted image [B, H, W, 3], 1: P1, …, 5: P5}` (P_l at stride 2^l)."""
        x = tf.cast(image, tf.float32) - self._p("input_shift")
        y = tf.nn.relu(_conv(x, self._p("encoder/conv1/kernel"), self._p("encoder/conv1/bias"), 2))
        features = {0: x, 1: y}
        y = tf.nn.max_pool2d(tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 2, "VALID")
        for name, plan in self._encoder_plan:
            shortcut = y
            parts = [p for p in ("conv1", "conv2", "conv3") if p in plan]
            h = y
            for i, part in enumerate(parts):
                h = _conv(h, self._p(f"encoder/{name}/{part}/kernel"),
                          self._p(f"encoder/{name}/{part}/bias"), plan[part])
                if i + 1 < len(parts):
                    h = tf.nn.relu(h)
            if "downsample" in plan:
                shortcut = _conv(y, self._p(f"encoder/{name}/downsample/kernel"),
                                 self._p(f"encoder/{name}/downsample/bias"), plan["downsample"])
            y = tf.nn.relu(h + shortcut)
            stage = int(name[len("layer")]) + 1
            features[stage] = y
        return features

    # ----- modulations ---------------------------------------------------------------
    def _pooled_palettes(self, palette):
        """The one-hot palette at strides 2 … 32 (`avg` pyramid), or the subsampled
        palette ids (`nearest` pyramid, still one-hot at every level)."""
        levels = {}
        if self.nearest_pyramid:
            for l in _LEVELS:
                levels[l] = palette[:, ::2**l, ::2**l]
            return levels
        # One-hot as a lookup in the identity matrix: quantizes cleanly in int8 TFLite
        # (the int8 ONE_HOT kernel writes raw 0/1 in the quantized domain).
        p = tf.gather(tf.eye(self.num_tasks), palette)
        for l in _LEVELS:
            p = tf.nn.avg_pool2d(p, 2, 2, "VALID")
            levels[l] = p
        if self.cell_tables:
            # The count code of each 2×2 cell (see `folding.cell_mixes`): a sum of 5^task
            # over its pixels (the last task counts 0). Integer ops: never quantized.
            weights = tf.constant([5**k for k in range(self.num_tasks - 1)] + [0], tf.int32)
            w = tf.gather(weights, palette)
            levels["cell_code"] = (w[:, 0::2, 0::2] + w[:, 0::2, 1::2]
                                   + w[:, 1::2, 0::2] + w[:, 1::2, 1::2])
        return levels

    def _composite_modulation(self, name, level, palette, pooled):
        """`(A, C)` of block `name` for a palette: tables where one-hot, else the MLP."""
        if level == 0 or self.nearest_pyramid:
            ids = palette if level == 0 else pooled[level]
            return (tf.gather(self._p(f"{name}/scale_table"), ids),
                    tf.gather(self._p(f"{name}/shift_table"), ids))
        if level == 1 and self.cell_tables:
            code = pooled["cell_code"]
            return (tf.gather(self._p(f"{name}/cell_scale_table"), code),
                    tf.gather(self._p(f"{name}/cell_shift_table"), code))
        folded = self._folded[name]
        p = pooled[level]
        slope = folded.negative_slope
        s = _leaky(self._matmul(p, self._p(f"{name}/first_table")), slope)
        for i in range(len(folded.shared)):
            s = _leaky(self._matmul(s, self._p(f"{name}/shared_{i + 1}/weight"),
                                    self._p(f"{name}/shared_{i + 1}/bias")), slope)
        ac = self._matmul(s, self._p(f"{name}/modulation/weight"), self._p(f"{name}/modulation/bias"))
        return tf.split(ac, 2, axis=-1)

    @staticmethod
    def _matmul(x, weight, bias=None):
        """A per-pixel linear map (a 1×1 convolution)."""
        return _conv(x, weight[None, None], bias)

    def _task_modulation(self, name, task):
        """`(A, C)` of block `name` as `[B, 1, 1, C]` for one task per image."""
        scale = tf.gather(self._p(f"{name}/scale_table"), task)[:, None, None, :]
        shift = tf.gather(self._p(f"{name}/shift_table"), task)[:, None, None, :]
        return scale, shift

    # ----- decoder -------------------------------------------------------------------
    def _decode(self, features, block):
        """The U-Net decoder; `block(name, x, level)` applies one conditioned block."""
        image_skip = block("image_block_1", block("image_block_0", features[0], 0), 0)
        skips = {l: block(f"skip_{l}", features[l], l) for l in _LEVELS}
        y = skips[5]
        for level in range(4, -1, -1):
            skip = skips[level] if level > 0 else image_skip
            y = block(f"decoder_{level}", (y, skip), level)  # conv of concat[upsample(y), skip]
        return _conv(y, self._p("head/kernel"), self._p("head/bias"))

    def _block_conv(self, name, x, kernel, upsampled_kernel=None):
        """A block's convolution; `x` is a tensor, or `(low, skip)` for concat[upsample(low), skip]."""
        if not isinstance(x, tuple):
            return _conv(x, kernel)
        low, skip = x
        if upsampled_kernel is None:  # upsample, concatenate, convolve (as the Keras model)
            height, width = 2 * low.shape[1], 2 * low.shape[2]
            up = tf.raw_ops.ResizeBilinear(images=low, size=(height, width), align_corners=True,
                                           half_pixel_centers=False)
            return _conv(tf.concat([up, skip], axis=-1), kernel)
        return _conv(skip, kernel) + upsample_conv(low, upsampled_kernel, kernel.shape[0])

    def _kernels(self, name):
        upsampled = f"{name}/upsampled_kernel"
        return self._p(f"{name}/kernel"), self._p(upsampled) if upsampled in self._params else None

    def _modulated_block(self, modulation):
        def block(name, x, level):
            scale, shift = modulation(name, level)
            y = self._block_conv(name, x, *self._kernels(name))
            return _leaky(y * scale + shift, self._folded[name].negative_slope)

        return block

    def __call__(self, inputs):
        """`composite` on the Keras model's inputs `{"image": …, "palette": …}`."""
        return self.composite(inputs["image"], inputs["palette"])

    def composite(self, image, palette):
        """Raw `[B, H, W, C]` output for `image` (RGB 0..255) and `palette` (ids `[B, H, W]`)."""
        return self.decode_composite(self.encode(tf.cast(image, tf.float32)), tf.cast(palette, tf.int32))

    def decode_composite(self, features, palette):
        """The raw output for the encoder's `features` under `palette` (int32 ids)."""
        pooled = self._pooled_palettes(palette)
        block = self._modulated_block(
            lambda name, level: self._composite_modulation(name, level, palette, pooled))
        return self._decode(features, block)

    def single_task(self, image, task):
        """Raw output with one task per image over the whole image (`task` `[B]` ids)."""
        return self.decode_tasks(self.encode(tf.cast(image, tf.float32)), tf.cast(task, tf.int32))

    def decode_tasks(self, features, task):
        """The raw output for the encoder's `features`, one task per image (int32 `[B]`)."""
        block = self._modulated_block(lambda name, level: self._task_modulation(name, task))
        return self._decode(features, block)

    def _folded_task_params(self, task):
        """`{block: (kernel, upsampled kernel or None, bias)}` with γ/β of `task` folded in."""
        if task not in self._folded_tasks:
            if not 0 <= task < self.num_tasks:
                raise ValueError(f"`task` must be in [0, {self.num_tasks}). Received {task}")
            with tf.init_scope():  # reads the variables eagerly, also while tracing
                self._folded_tasks[task] = {name: self._fold_task(name, folded, task)
                                            for name, folded in self._folded.items()}
        return self._folded_tasks[task]

    def _fold_task(self, name, folded, task):
        scale, shift = np.split(folded.task_table[task], 2)
        kernel = self._numpy(f"{name}/kernel") * scale
        upsampled = None
        if f"{name}/upsampled_kernel" in self._params:  # output channels ordered (tap, channel)
            upsampled = self._numpy(f"{name}/upsampled_kernel")
            upsampled = upsampled * np.tile(scale, upsampled.shape[-1] // len(scale))
            upsampled = upsampled.astype(np.float32)
        return kernel.astype(np.float32), upsampled, shift.astype(np.float32)

    def single_task_folded(self, image, task):
        """Raw output with the same `task` (a Python int) over every image of the batch.

        γ and β are folded into each block's convolution: conv + bias + activation.
        The folded kernels are numpy arrays made on the first call for each task and
        become constants of the traced graph.
        """
        params = self._folded_task_params(int(task))

        def block(name, x, level):
            # Constants of each trace (made from numpy, so no graph tensor is cached).
            kernel, upsampled, bias = (None if v is None else tf.constant(v) for v in params[name])
            y = tf.nn.bias_add(self._block_conv(name, x, kernel, upsampled), bias)
            return _leaky(y, self._folded[name].negative_slope)

        return self._decode(self.encode(tf.cast(image, tf.float32)), block)

    def all_tasks(self, image):
        """`[B, K, H, W, C]`: every task over the whole image; one encoder pass."""
        features = self.encode(tf.cast(image, tf.float32))
        k = self.num_tasks
        batch = tf.shape(features[0])[0]
        tiled = {key: tf.repeat(value, k, axis=0) for key, value in features.items()}
        task = tf.tile(tf.range(k, dtype=tf.int32), [batch])
        raw = self.decode_tasks(tiled, task)
        height, width = self.image_hw
        return tf.reshape(raw, [batch, k, height, width, self.output_channels])

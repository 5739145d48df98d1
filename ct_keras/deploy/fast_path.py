"""`FastCompositeTasking`: the exact fast inference path of a trained CompositeTaskingNet."""

import numpy as np
import tensorflow as tf

from ct_keras.deploy.folding import fold_input_normalization, fold_resnet, fold_task_composition

_LEVELS = range(1, 6)


def _leaky(x, slope):
    # max(x, a·x), never tf.nn.leaky_relu: DESIGN §7 (a fused oneDNN op ignores the slope).
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


def _upsample(x):
    height, width = x.shape[1], x.shape[2]
    return tf.raw_ops.ResizeBilinear(images=x, size=(2 * height, 2 * width), align_corners=True,
                                     half_pixel_centers=False)


class FastCompositeTasking(tf.Module):
    """A trained `CompositeTaskingNet` rewritten to do less work for the same outputs.

    Built once from the model's weights (BatchNorms, the input normalisation, the conv
    biases and the task vectors are folded away; see `ct_keras.deploy.folding`), it
    computes the model's raw output with plain TensorFlow ops, so that it exports to
    SavedModel and TFLite without Keras:

    - `composite(image, palette)`: any Task Palette. At stride 1 the modulation γ, β of
      every block is a K-row table indexed by the palette; at coarser strides the first
      conditioning convolution is the pooled one-hot palette times a K-row table
      (5 instead of 128 input channels).
    - `single_task(image, task)`: one task per image (`task` `[B]`): γ and β are
      per-channel constants of the task at every scale, a `[B, 1, 1, C]` affine.
    - `single_task_folded(image, task)`: one task for the whole batch (a Python int):
      γ and β are folded into the convolutions, each block is conv + bias + activation.
    - `all_tasks(image)`: every task everywhere, `[B, K, H, W, C]`, with one encoder
      pass and the K decoder passes batched together.

    The outputs equal `model(inputs, training=False)` to float32 rounding (tests check
    ≤ 1e-4). Palette ids must lie in [0, K): this class does not check them (the exports
    do, see `ct_keras.deploy.saved_model`).

    Args:
        model: a built `CompositeTaskingNet` (any dtype policy; the fast path is float32).

    Example:
    >>> fast = FastCompositeTasking(model)
    >>> raw = fast.composite(image, palette)      # == model({"image": image, "palette": palette})
    >>> every = fast.all_tasks(image)             # [B, 5, H, W, 3]
    """

    def __init__(self, model, name="fast_composite_tasking"):
        super().__init__(name=name)
        from ct_keras.models import CompositeTaskingNet

        if not isinstance(model, CompositeTaskingNet):
            raise ValueError(
                "The fast path is for a CompositeTaskingNet; export other models through their "
                f"Keras graph (fast=False, --nofast). Received {type(model).__name__}"
            )
        self.image_hw = tuple(model.image_hw)
        self.num_tasks = int(model.num_tasks)
        self.output_channels = int(model.output_channels)
        self.nearest_pyramid = model.pyramid_interpolation == "nearest"
        self._params = {}
        self._folded = {}
        self._folded_tasks = {}
        with self.name_scope:
            self._fold(model)

    # ----- building ------------------------------------------------------------------
    def _variable(self, name, value):
        variable = tf.Variable(np.asarray(value, np.float32), trainable=False, name=name)
        self._params[name] = variable
        return variable

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
            self._variable(f"{name}/kernel", kernel)
            self._variable(f"{name}/scale_table", folded.task_table[:, :filters])
            self._variable(f"{name}/shift_table", folded.task_table[:, filters:])
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
        return self._params[name]

    # ----- encoder -------------------------------------------------------------------
    def encode(self, image):
        """Shifted image and encoder pyramid `{"x": [B, H, W, 3], 1: P1, …, 5: P5}`."""
        x = tf.cast(image, tf.float32) - self._p("input_shift")
        y = tf.nn.relu(_conv(x, self._p("encoder/conv1/kernel"), self._p("encoder/conv1/bias"), 2))
        features = {"x": x, 1: y}
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
        p = tf.one_hot(palette, self.num_tasks, dtype=tf.float32)
        for l in _LEVELS:
            p = tf.nn.avg_pool2d(p, 2, 2, "VALID")
            levels[l] = p
        return levels

    def _composite_modulation(self, name, level, palette, pooled):
        """`(A, C)` of block `name` for a palette: tables where one-hot, else the MLP."""
        if level == 0 or self.nearest_pyramid:
            ids = palette if level == 0 else pooled[level]
            return (tf.gather(self._p(f"{name}/scale_table"), ids),
                    tf.gather(self._p(f"{name}/shift_table"), ids))
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
        image_skip = block("image_block_1", block("image_block_0", features["x"], 0), 0)
        skips = {l: block(f"skip_{l}", features[l], l) for l in _LEVELS}
        y = skips[5]
        for level in range(4, -1, -1):
            skip = skips[level] if level > 0 else image_skip
            y = tf.concat([_upsample(y), skip], axis=-1)
            y = block(f"decoder_{level}", y, level)
        return _conv(y, self._p("head/kernel"), self._p("head/bias"))

    def _modulated_block(self, modulation):
        def block(name, x, level):
            scale, shift = modulation(name, level)
            y = _conv(x, self._p(f"{name}/kernel"))
            return _leaky(y * scale + shift, self._folded[name].negative_slope)

        return block

    def __call__(self, inputs):
        """`composite` on the Keras model's inputs `{"image": …, "palette": …}`."""
        return self.composite(inputs["image"], inputs["palette"])

    def composite(self, image, palette):
        """Raw `[B, H, W, C]` output for `image` (RGB 0..255) and `palette` (ids `[B, H, W]`)."""
        palette = tf.cast(palette, tf.int32)
        pooled = self._pooled_palettes(palette)
        block = self._modulated_block(
            lambda name, level: self._composite_modulation(name, level, palette, pooled))
        return self._decode(self.encode(image), block)

    def single_task(self, image, task):
        """Raw output with one task per image over the whole image (`task` `[B]` ids)."""
        task = tf.cast(task, tf.int32)
        block = self._modulated_block(lambda name, level: self._task_modulation(name, task))
        return self._decode(self.encode(image), block)

    def _folded_task_params(self, task):
        if task not in self._folded_tasks:
            if not 0 <= task < self.num_tasks:
                raise ValueError(f"`task` must be in [0, {self.num_tasks}). Received {task}")
            params = {}
            for name, folded in self._folded.items():
                kernel, bias = folded.task_kernel(task)
                params[name] = (tf.constant(kernel, tf.float32), tf.constant(bias, tf.float32))
            self._folded_tasks[task] = params
        return self._folded_tasks[task]

    def single_task_folded(self, image, task):
        """Raw output with the same `task` (a Python int) over every image of the batch.

        γ and β are folded into each block's convolution: conv + bias + activation.
        The folded kernels are constants made on the first call for each task.
        """
        params = self._folded_task_params(int(task))

        def block(name, x, level):
            kernel, bias = params[name]
            return _leaky(_conv(x, kernel, bias), self._folded[name].negative_slope)

        return self._decode(self.encode(image), block)

    def all_tasks(self, image):
        """`[B, K, H, W, C]`: every task over the whole image; one encoder pass."""
        features = self.encode(image)
        k = self.num_tasks
        batch = tf.shape(features["x"])[0]
        tiled = {key: tf.repeat(value, k, axis=0) for key, value in features.items()}
        task = tf.tile(tf.range(k, dtype=tf.int32), [batch])
        block = self._modulated_block(lambda name, level: self._task_modulation(name, task))
        raw = self._decode(tiled, block)
        height, width = self.image_hw
        return tf.reshape(raw, [batch, k, height, width, self.output_channels])

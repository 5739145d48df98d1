import keras
from keras import ops

from ct_keras.layers.leaky_relu import leaky_relu
from ct_keras.layers.torch_init import torch_bias_initializer, torch_kernel_initializer


@keras.saving.register_keras_serializable(package="ct_keras")
class TaskComposition(keras.layers.Layer):
    """Task composition block (paper §3.2, Fig. 4, eq. 1): a task-conditioned conv block.

    conv(k×k) → BatchNorm without scale/offset → y·γ(E) + β(E) → LeakyReLU(0.01), with
    s = LeakyReLU(0.01)(1×1 conv(E)) (repeated `num_shared_convs` times),
    γ = 1×1 conv(s) with its bias initialised to 1, β = 1×1 conv(s). Every 1×1 conv acts
    on each pixel's embedding alone, so each pixel's task request stays independent.

    Call it on `[features, embedding]` of the same spatial size, or on the factored
    embedding `[features, mix, vectors]` of `TaskRepresentation(factored=True)` (the
    embedding is `mix @ vectors`, `mix` `[B, H, W, K+1]`, `vectors` `[B, K+1, D]`): the
    same outputs for less work. Since the first 1×1 conv is linear and every row of
    `mix` sums to 1, it runs on the K+1 vectors and is mixed after; with
    `one_hot_mix=True` (stride 1, where each pixel holds one task) γ and β themselves
    are computed on the vectors and looked up. Both are exact and differentiable.

    Args:
        filters: output channels.
        kernel_size: kernel of the feature convolution (3 in the decoder, 1 on skips).
        hidden_dim: channels of s (128 at strides 1–4, 256 at 8–32 in the reference).
        num_shared_convs: how many 1×1 conv + LeakyReLU layers compute s (Table 9: 1–3).
        negative_slope: slope of the LeakyReLU activations.

    Example:
    >>> block = TaskComposition(64, 3)
    >>> block([keras.ops.ones((1, 32, 32, 16)), keras.ops.ones((1, 32, 32, 128))]).shape
    (1, 32, 32, 64)
    """

    def __init__(self, filters, kernel_size=3, hidden_dim=128, num_shared_convs=1,
                 negative_slope=0.01, **kwargs):
        super().__init__(**kwargs)
        if kernel_size % 2 != 1:
            raise ValueError(f"`kernel_size` must be odd. Received {kernel_size}")
        if num_shared_convs < 1:
            raise ValueError(f"`num_shared_convs` must be at least 1. Received {num_shared_convs}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.hidden_dim = hidden_dim
        self.num_shared_convs = num_shared_convs
        self.negative_slope = negative_slope

    def _conv(self, filters, kernel_size, fan_in, name, bias_initializer=None):
        return keras.layers.Conv2D(
            filters, kernel_size, padding="same",
            kernel_initializer=torch_kernel_initializer(),
            bias_initializer=bias_initializer or torch_bias_initializer(fan_in),
            dtype=self.dtype_policy, name=name,
        )

    def build(self, input_shape):
        features_shape, embedding_shape = input_shape[0], input_shape[-1]
        out_shape = tuple(features_shape[:-1]) + (self.filters,)
        self.conv = self._conv(
            self.filters, self.kernel_size, features_shape[-1] * self.kernel_size**2, "conv"
        )
        self.conv.build(features_shape)
        # `norm`: public, `training.distribution.batch_norm_layers` finds it by this name.
        self.norm = keras.layers.BatchNormalization(
            center=False, scale=False, momentum=0.9, epsilon=1e-5,
            dtype=self.dtype_policy, name="norm",
        )
        self.norm.build(out_shape)
        self.shared_convs = []
        shape = (None, None, None, embedding_shape[-1])
        for i in range(self.num_shared_convs):
            conv = self._conv(self.hidden_dim, 1, shape[-1], f"shared_{i}")
            conv.build(shape)
            shape = shape[:-1] + (self.hidden_dim,)
            self.shared_convs.append(conv)
        self.gamma_conv = self._conv(
            self.filters, 1, self.hidden_dim, "gamma", bias_initializer="ones"
        )
        self.gamma_conv.build(shape)
        self.beta_conv = self._conv(self.filters, 1, self.hidden_dim, "beta", bias_initializer="zeros")
        self.beta_conv.build(shape)

    def modulation(self, embedding, skip_first=False):
        """γ and β of eq. 1 for an embedding map (after the first shared conv with
        `skip_first`: `embedding` is then that conv's output)."""
        s = embedding
        for i, conv in enumerate(self.shared_convs):
            s = leaky_relu(s if skip_first and i == 0 else conv(s), self.negative_slope)
        return self.gamma_conv(s), self.beta_conv(s)

    def factored_modulation(self, mix, vectors, one_hot_mix=False):
        """γ and β for the embedding `mix @ vectors` (see the class docstring)."""
        rows = vectors[:, None]  # [B, 1, K+1, D]: the 1×1 convs run on the K+1 vectors

        def mixed(table):
            return ops.einsum("bhwk,bkc->bhwc", mix, table[:, 0])

        if one_hot_mix:
            gamma, beta = self.modulation(rows)
            return mixed(gamma), mixed(beta)
        return self.modulation(mixed(self.shared_convs[0](rows)), skip_first=True)

    def call(self, inputs, training=None, one_hot_mix=False):
        features = inputs[0]
        x = self.norm(self.conv(features), training=training)
        if len(inputs) == 3:
            gamma, beta = self.factored_modulation(inputs[1], inputs[2], one_hot_mix)
        else:
            gamma, beta = self.modulation(inputs[1])
        return leaky_relu(x * gamma + beta, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "hidden_dim": self.hidden_dim,
            "num_shared_convs": self.num_shared_convs,
            "negative_slope": self.negative_slope,
        })
        return config

import keras
from keras import ops

from ct_keras.layers.leaky_relu import leaky_relu
from ct_keras.layers.torch_init import torch_bias_initializer, torch_kernel_initializer
from ct_keras.tasks import NUM_TASKS, task_codes

PYRAMID_INTERPOLATIONS = ("bilinear", "nearest")


@keras.saving.register_keras_serializable(package="ct_keras")
class TaskRepresentation(keras.layers.Layer):
    """Task representation block (paper §3.2, Fig. 3): Task Palette → embedding pyramid.

    Each task code z_k (ones in block k, L2-normalised) goes through an MLP of
    `mlp_depth` Linear + LeakyReLU(0.2) layers to give the task vector e_k. The palette
    embedding E puts e_{t_yx} at every pixel; the pyramid halves E `num_levels - 1`
    times, so level l has stride 2^l.

    E is linear in the one-hot palette, so each level is computed as
    `pool(one_hot(T)) @ [e_1 … e_K]`: the same numbers as pooling the 128-channel E,
    with K instead of 128 channels to pool. Ids outside [0, K) embed to zero, as in
    the reference.

    Called with `factored=True` it returns the pyramid in that factored form instead,
    `[mix_0, …, mix_{L-1}, vectors]`: `mix_l` `[B, H/2^l, W/2^l, K+1]` the pooled
    one-hot palette (column K counts ids outside [0, K), whose vector is zero, so
    every row sums to 1) and `vectors` `[B, K+1, D]` the task vectors (the last row
    zero), so that level l of E is `mix_l @ vectors`. `TaskComposition` takes this
    form to compute its conditioning on K+1 vectors rather than on every pixel.

    Args:
        num_tasks: K, the number of tasks.
        code_length: length of each task's block in z (the code has K·code_length entries).
        embedding_dim: width of the task vectors e_k (paper Table 12 ablates 32–512).
        mlp_depth: number of Linear layers (paper Table 11 ablates 3–12).
        num_levels: pyramid levels (6 for strides 1 … 32).
        pyramid_interpolation: `"bilinear"` (2×2 average, the reference) or
            `"nearest"` (top-left pixel of each 2×2 cell).

    Example:
    >>> levels = TaskRepresentation()(keras.ops.zeros((1, 64, 64), "int32"))
    >>> [l.shape for l in levels][-1]
    (1, 2, 2, 128)
    """

    def __init__(
        self,
        num_tasks=NUM_TASKS,
        code_length=20,
        embedding_dim=128,
        mlp_depth=6,
        num_levels=6,
        pyramid_interpolation="bilinear",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pyramid_interpolation not in PYRAMID_INTERPOLATIONS:
            raise ValueError(
                f"`pyramid_interpolation` must be one of {PYRAMID_INTERPOLATIONS}. "
                f"Received {pyramid_interpolation!r}"
            )
        for name, value in (("num_tasks", num_tasks), ("mlp_depth", mlp_depth),
                            ("num_levels", num_levels), ("code_length", code_length),
                            ("embedding_dim", embedding_dim)):
            if int(value) < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received {value}")
        self.num_tasks = num_tasks
        self.code_length = code_length
        self.embedding_dim = embedding_dim
        self.mlp_depth = mlp_depth
        self.num_levels = num_levels
        self.pyramid_interpolation = pyramid_interpolation

    def build(self, palette_shape):
        code_dim = self.num_tasks * self.code_length
        self.dense_layers = []
        for i in range(self.mlp_depth):
            fan_in = code_dim if i == 0 else self.embedding_dim
            dense = keras.layers.Dense(
                self.embedding_dim,
                kernel_initializer=torch_kernel_initializer(),
                bias_initializer=torch_bias_initializer(fan_in),
                dtype=self.dtype_policy,
                name=f"dense_{i}",
            )
            dense.build((None, fan_in))
            self.dense_layers.append(dense)

    def task_vectors(self):
        """`[num_tasks, embedding_dim]`: the task vectors e_k."""
        x = ops.convert_to_tensor(task_codes(self.num_tasks, self.code_length), self.compute_dtype)
        for dense in self.dense_layers:
            x = leaky_relu(dense(x), 0.2)
        return x

    def palette_pyramid(self, palette):
        """The one-hot palette at each pyramid level: `num_levels` × `[B, H/2^l, W/2^l, K]`."""
        return self._pyramid(ops.one_hot(ops.cast(palette, "int32"), self.num_tasks, dtype=self.compute_dtype))

    def _pyramid(self, level):
        levels = [level]
        for _ in range(self.num_levels - 1):
            if self.pyramid_interpolation == "bilinear":
                # Bilinear halving (align_corners=False) is exactly 2×2 average pooling.
                level = ops.average_pool(level, 2, 2, padding="valid")
            else:
                level = level[:, ::2, ::2, :]
            levels.append(level)
        return levels

    def call(self, palette, factored=False):
        if factored:
            return self._factored(palette)
        vectors = self.task_vectors()
        return [ops.einsum("bhwk,kc->bhwc", p, vectors) for p in self.palette_pyramid(palette)]

    def _factored(self, palette):
        ids = ops.cast(palette, "int32")
        k = self.num_tasks
        ids = ops.where(ops.logical_and(ids >= 0, ids < k), ids, k)  # the zero vector's row
        levels = self._pyramid(ops.one_hot(ids, k + 1, dtype=self.compute_dtype))
        vectors = ops.concatenate(
            [self.task_vectors(), ops.zeros((1, self.embedding_dim), self.compute_dtype)], axis=0)
        batch = ops.shape(palette)[0]
        return levels + [ops.broadcast_to(vectors[None], (batch, k + 1, self.embedding_dim))]

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_tasks": self.num_tasks,
            "code_length": self.code_length,
            "embedding_dim": self.embedding_dim,
            "mlp_depth": self.mlp_depth,
            "num_levels": self.num_levels,
            "pyramid_interpolation": self.pyramid_interpolation,
        })
        return config

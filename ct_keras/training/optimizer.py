"""Adam with a learning rate per group of variables, PyTorch-style (coupled) L2, and the
gradient's global norm clipped over all replicas."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="ct_keras")
class MultiRateAdam(keras.optimizers.Adam):
    """Adam whose step for some variables is scaled: the paper trains the encoder at
    1e-5 and the decoder and task MLP at 1e-3 (docs/design.md §5).

    Schedules and `ReduceLROnPlateau` act on the one `learning_rate`, so both groups
    keep their ratio. Weight decay is coupled L2 (`g + λ·w`, as `torch.optim.Adam`'s
    `weight_decay`), not AdamW's decoupled decay.

    Args:
        learning_rate: the base rate (a float or a schedule).
        rate_multipliers: `[(variables, multiplier), ...]`: those variables get
            `learning_rate × multiplier` (first match), all others the base rate.
            E.g. `[(model.encoder.trainable_variables, 0.01)]`.
        l2: coupled weight decay λ.
        clip_grad_norm: where the gradient's global norm (over every variable, of the
            gradient summed over replicas) exceeds this, the gradient is scaled down to
            it before Adam sees it — as `torch.nn.utils.clip_grad_norm_` after
            DistributedDataParallel's all-reduce. 0 turns it off. (Keras' own
            `global_clipnorm` clips each replica's share separately, so its result
            depends on the number of replicas.)
        **kwargs: `keras.optimizers.Adam` arguments.
    """

    def __init__(self, learning_rate=1e-3, rate_multipliers=None, l2=0.0, clip_grad_norm=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.l2 = float(l2)
        if not clip_grad_norm >= 0:
            raise ValueError(f"clip_grad_norm must be 0 (off) or positive, not {clip_grad_norm}")
        self.clip_grad_norm = float(clip_grad_norm)
        self._group_of = {}
        for variables, value in rate_multipliers or ():
            for v in variables:
                self._group_of.setdefault(id(v), float(value))
        self._scale_of = {}

    def multiplier(self, variable):
        """The factor on the learning rate of `variable`."""
        return self._group_of.get(id(variable), 1.0)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # `update_step` receives the backend's variable (a replica's copy under a
        # distribution strategy), so the factors are keyed by those objects, reached
        # through public APIs: `Variable.value` and the strategy's local results.
        strategy = tf.distribute.get_strategy()
        for v in var_list:
            value = v.value if isinstance(v, keras.Variable) else v
            for local in strategy.experimental_local_results(value):
                self._scale_of[id(local)] = self.multiplier(v)

    def apply(self, grads, trainable_variables=None):
        if self.clip_grad_norm:
            grads = _clip_over_replicas(grads, self.clip_grad_norm)
        return super().apply(grads, trainable_variables)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2:
            gradient = gradient + self.l2 * keras.ops.cast(variable, gradient.dtype)
        scale = self._scale_of[id(variable)]
        if scale != 1.0:
            learning_rate = learning_rate * scale
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update({"l2": self.l2, "clip_grad_norm": self.clip_grad_norm})
        return config


def _clip_over_replicas(grads, clip_norm):
    """`grads` scaled so that the global norm of their sum over replicas is at most
    `clip_norm`. Under N replicas each passes on 1/N of the clipped sum, which the
    optimizer's own all-reduce sums back (one extra all-reduce while clipping is on)."""
    present = [i for i, g in enumerate(grads) if g is not None]
    values = [grads[i] for i in present]
    context = tf.distribute.get_replica_context()
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    summed = context is not None and replicas > 1
    if summed:
        values = context.all_reduce(tf.distribute.ReduceOp.SUM, values)
    clipped, _ = tf.clip_by_global_norm(values, clip_norm)
    out = list(grads)
    for i, g in zip(present, clipped):
        out[i] = g / replicas if summed else g
    return out

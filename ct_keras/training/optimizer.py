"""Adam with a learning rate per group of variables and PyTorch-style (coupled) L2."""

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
        **kwargs: `keras.optimizers.Adam` arguments.
    """

    def __init__(self, learning_rate=1e-3, rate_multipliers=None, l2=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.l2 = float(l2)
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

    def update_step(self, gradient, variable, learning_rate):
        if self.l2:
            gradient = gradient + self.l2 * keras.ops.cast(variable, gradient.dtype)
        scale = self._scale_of[id(variable)]
        if scale != 1.0:
            learning_rate = learning_rate * scale
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update({"l2": self.l2})
        return config

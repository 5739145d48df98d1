"""The training model: a ct_keras network, its composite loss and the paper's metrics."""

import contextlib

import keras
import tensorflow as tf
from keras import ops

from ct_keras.decoding import decode_tensor
from ct_keras.losses import CompositeLoss
from ct_keras.tasks import TASK_NAMES
from ct_keras.training.distribution import is_multi_worker


class CompositeTaskingTrainer(keras.Model):
    """Wraps a network for `fit`/`evaluate` on `make_dataset` batches `(inputs, targets)`.

    `train_step`: forward, `CompositeLoss` in float32 (each task on its palette
    region), `optimizer.scale_loss` (loss scaling under mixed_float16), gradients,
    `optimizer.apply`. Logs the total `loss` and one `<task>_loss` per task.
    `test_step`: the same losses, plus every metric in `metrics` fed with the decoded
    prediction where the palette asks for its task. Class maps are decoded with the
    net's own anchors (`net.anchors`), which the loss must share.

    With `jit_compile`, XLA compiles the train step whole, but of the test step only the
    forward pass, the losses and the decoding: metric updates may run host code that XLA
    cannot compile (the edges odsF matcher is a `tf.numpy_function`), so they run in the
    surrounding graph — the same numbers, whatever `jit_compile` is.

    Only `net` holds weights; save them with `trainer.net.save_weights`.

    Args:
        net: a `ct_keras.models` network (CTN, MHN, MN, or STN — an STN trains its task).
        loss: a `CompositeLoss` built with `anchors=net.anchors` (default: the paper's
            loss with the net's anchors).
        metrics: metric objects with a `task` attribute and
            `update_state(y_true, y_pred, sample_weight)` (`ct_keras.metrics`).
        strategy: a `tf.distribute.Strategy` whose scope holds the trainer's own variables
            (its loss trackers) while the trainer itself is created outside it, as
            `run.train` does: Keras then builds nothing from the data stream at `fit` (a
            model created in a scope makes `fit` pull a batch to build it, which
            MultiWorkerMirroredStrategy cannot reduce for dict inputs). Build the net, the
            metrics and the optimizer in that scope, call the trainer on a batch and
            `fit` inside it too.
    """

    def __init__(self, net, loss=None, metrics=(), strategy=None, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        tasks = (net.task,) if not net.uses_palette else None
        self.composite_loss = loss or CompositeLoss(tasks=tasks, anchors=net.anchors)
        if self.composite_loss.anchors != net.anchors:
            raise ValueError("The loss's class anchors differ from the net's: build it with "
                             "CompositeLoss(anchors=net.anchors)")
        self.task_names = [TASK_NAMES[k] for k in self.composite_loss.tasks]
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.task_loss_trackers = {n: keras.metrics.Mean(name=f"{n}_loss") for n in self.task_names}
        self.task_metrics = list(metrics)

    @property
    def metrics(self):
        return [self.loss_tracker, *self.task_loss_trackers.values(), *self.task_metrics]

    def call(self, inputs, training=False):
        if not self.net.uses_palette:
            inputs = inputs["image"] if isinstance(inputs, dict) else inputs
        return self.net(inputs, training=training)

    def _palette(self, inputs):
        # Where each task is supervised and scored. A single-task net ignores the palette as
        # an input, but learns and is scored on its task's region only (the paper's "R1r
        # STN" and the STN rows of Table 2); under rule S that region is the whole image.
        return inputs.get("palette") if isinstance(inputs, dict) else None

    def _track(self, total, losses):
        self.loss_tracker.update_state(total)
        for name, value in losses.items():
            self.task_loss_trackers[name].update_state(value)

    def _logs(self, metrics=None):
        logs = {}
        for m in self.metrics if metrics is None else metrics:
            result = m.result()
            logs.update(result if isinstance(result, dict) else {m.name: result})
        if is_multi_worker(tf.distribute.get_strategy()):
            # Keras averages logs over workers with `reduce(MEAN, axis=0)`: they need an axis.
            logs = {k: ops.expand_dims(v, 0) for k, v in logs.items()}
        return logs

    def train_step(self, data):
        # XLA-compiled when compiled with `jit_compile`; called directly, it runs as is.
        return getattr(self, "_train_step", self._plain_train_step)(data)

    def _plain_train_step(self, data):
        inputs, targets = data[0], data[1]
        with tf.GradientTape() as tape:
            raw = self(inputs, training=True)
            total, losses = self.composite_loss(raw, self._palette(inputs), targets)
            # Gradients are summed over replicas: each contributes its share.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(total / replicas)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        self._track(total, losses)
        # The task metrics are fed by `test_step` only: the training logs hold the losses.
        return self._logs([self.loss_tracker, *self.task_loss_trackers.values()])

    def compile(self, *args, **kwargs):
        """`keras.Model.compile`; with `jit_compile` (or "auto" on a GPU) XLA compiles the
        train step whole and the test step's forward pass, losses and decoding, leaving
        its metric updates to the graph around it (see the class docstring)."""
        super().compile(*args, **kwargs)
        self.xla = bool(self.jit_compile) and not self.run_eagerly  # Keras' resolved choice
        self.jit_compile = False  # the steps place XLA themselves
        self._train_step = self._plain_train_step
        self._test_forward = self._forward_and_decode
        if self.xla:
            self._train_step = tf.function(self._plain_train_step, jit_compile=True, reduce_retracing=True)
            self._test_forward = tf.function(self._forward_and_decode, jit_compile=True, reduce_retracing=True)

    def _forward_and_decode(self, inputs, targets):
        raw = self(inputs, training=False)
        total, losses = self.composite_loss(raw, self._palette(inputs), targets)
        predictions = []
        for metric in self.task_metrics:
            predictions.append(decode_tensor(raw, metric.task, self.net.anchors))
        return total, losses, predictions

    def test_step(self, data):
        inputs, targets = data[0], data[1]
        # XLA-compiled when compiled with `jit_compile` (`compile`).
        forward = getattr(self, "_test_forward", self._forward_and_decode)
        total, losses, predictions = forward(inputs, targets)
        palette = self._palette(inputs)
        self._track(total, losses)
        for metric, prediction in zip(self.task_metrics, predictions):
            name = TASK_NAMES[metric.task]
            mask = ops.ones(ops.shape(prediction)[:3], "float32") if palette is None else (
                ops.cast(ops.equal(palette, metric.task), "float32"))
            metric.update_state(targets[name], prediction, sample_weight=mask)
        return self._logs()

    def predict_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        return self(inputs, training=False)


import keras
import tensorflow as tf

from ct_keras.metrics._inputs import prepare
from ct_keras.tasks import NUM_CLASSES, PARTS, SEMSEG, TASK_NAMES, task_id


@keras.saving.register_keras_serializable(package="ct_keras")
class MeanIoU(keras.metrics.Metric):
    """Mean intersection over union of a class map, in percent (semseg and parts).

    A confusion matrix is accumulated over the whole split; `result()` is the mean
    over classes of TP / (TP + FP + FN). The mean runs over the classes whose union
    TP + FP + FN is non-zero, i.e. that occur in the labels or the predictions of the
    pixels seen so far. (The authors' code counts a class absent from both as IoU 0;
    on the full PASCAL-MT val split every class occurs, so both agree.)

    Labels outside `[0, num_classes)`, such as the void label 255, are ignored
    together with their predictions; so are the pixels the Task Palette gives to
    other tasks. Parts are scored "only on images that contain people" through this
    rule: an image without people has an all-255 parts label. A prediction outside
    `[0, num_classes)` counts as a false negative of the true class only.

    Args:
        task: `0` / `"semseg"` or `1` / `"parts"`.
        num_classes: number of classes; defaults to the task's (21 and 7).
        name: metric name; defaults to `"<task>_miou"`.

    `update_state(y_true, y_pred, sample_weight=None)` takes integer class maps
    `[B, H, W]` (`y_pred` from `ct_keras.decoding.decode_tensor`) and the `[B, H, W]`
    selection of this task (non-zero = selected; the values are not used as weights).

    Example:
    ```python
    metric = MeanIoU("semseg")
    metric.update_state(labels, decode_tensor(raw, SEMSEG), sample_weight=palette == SEMSEG)
    metric.result()  # {"semseg_miou": <tf.Tensor: 63.7>}
    ```
    """

    def __init__(self, task, num_classes=None, name=None, **kwargs):
        task = task_id(task, (SEMSEG, PARTS))
        if num_classes is None:
            num_classes = NUM_CLASSES[task]
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"`num_classes` must be a positive integer. Received num_classes={num_classes!r}"
            )
        super().__init__(name=name or f"{TASK_NAMES[task]}_miou", **kwargs)
        self.task = task
        self.num_classes = num_classes
        # Rows: true class. Columns: predicted class, the last one for predictions
        # outside [0, num_classes). float64 counts stay exact far beyond a split's pixels.
        self.confusion = self.add_variable(
            shape=(num_classes, num_classes + 1), initializer="zeros", dtype="float64",
            name="confusion",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, selected = prepare(y_true, y_pred, sample_weight)
        for arg, value in (("y_true", y_true), ("y_pred", y_pred)):
            if not value.dtype.is_integer:
                raise ValueError(
                    f"`{arg}` must hold integer class ids (decode raw outputs with "
                    f"`decode_tensor` first). Received dtype {value.dtype.name}"
                )
        k = self.num_classes
        true = tf.cast(y_true, tf.int32)
        pred = tf.cast(y_pred, tf.int32)
        pred = tf.where((pred >= 0) & (pred < k), pred, k)
        counted = selected & (true >= 0) & (true < k)
        # One segment per matrix cell plus a last one that collects ignored pixels.
        cell = tf.where(counted, true * (k + 1) + pred, k * (k + 1))
        counts = tf.math.unsorted_segment_sum(
            tf.ones_like(cell, tf.float64), cell, k * (k + 1) + 1
        )
        self.confusion.assign_add(tf.reshape(counts[:-1], (k, k + 1)))

    def result(self):
        confusion = tf.convert_to_tensor(self.confusion)
        tp = tf.linalg.diag_part(confusion[:, :-1])
        union = tf.reduce_sum(confusion, axis=1) + tf.reduce_sum(confusion[:, :-1], axis=0) - tp
        present = tf.reduce_sum(tf.cast(union > 0, tf.float64))
        miou = tf.math.divide_no_nan(tf.reduce_sum(tf.math.divide_no_nan(tp, union)), present)
        return {f"{TASK_NAMES[self.task]}_miou": tf.cast(100.0 * miou, tf.float32)}

    def get_config(self):
        config = super().get_config()
        config.update({"task": self.task, "num_classes": self.num_classes})
        return config

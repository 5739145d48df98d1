import keras
import numpy as np
import tensorflow as tf

from ct_keras.metrics._inputs import check_thresholds, prepare
from ct_keras.tasks import SALIENCY


@keras.saving.register_keras_serializable(package="ct_keras")
class SaliencyMaxIoU(keras.metrics.Metric):
    """Saliency max mIoU and maxF over binarisation thresholds, in percent.

    The protocol of ASTMT / MTI-Net, which the paper's Sal column follows: at each
    threshold t the prediction is binarised as `p > t` and compared with the label
    (`y > 0.5`) on the selected pixels of *each image*. The per-image IoU, precision
    and recall are averaged over images, then

    - `saliency_maxiou` = max over t of the mean IoU,
    - `saliency_maxf` = max over t of F_β(mean precision, mean recall), with
      F_β = (1 + β²)·P·R / (β²·P + R).

    Per-image conventions as in ASTMT: an image with neither a salient label nor a
    salient prediction has IoU 1; precision (recall) is 0 when nothing is predicted
    (labelled) salient. An image with no selected pixel is not counted at all (the
    authors' code would count it as IoU 1).

    Note: β² = 0.3 is the saliency literature's convention and the default here;
    ASTMT, MTI-Net and the authors' code compute maxF with β = 1 (`beta_squared=1.0`).
    The paper reports only the max mIoU.

    Args:
        thresholds: the thresholds; defaults to `linspace(0.2, 0.9, 15)`.
        beta_squared: β² of the F-measure.
        name: metric name.

    `update_state(y_true, y_pred, sample_weight=None)` takes `[B, H, W]` 0/1 labels,
    `[B, H, W]` probabilities (`decode_tensor(raw, SALIENCY)`) and the `[B, H, W]`
    selection of this task (non-zero = selected).
    """

    def __init__(self, thresholds=None, beta_squared=0.3, name="saliency_maxiou", **kwargs):
        super().__init__(name=name, **kwargs)
        if thresholds is None:
            thresholds = np.linspace(0.2, 0.9, 15)
        if not beta_squared > 0:
            raise ValueError(f"`beta_squared` must be positive. Received {beta_squared!r}")
        self.task = SALIENCY
        self.thresholds = tuple(check_thresholds(thresholds).tolist())
        self.beta_squared = float(beta_squared)
        n = len(self.thresholds)
        # Sums over images of the per-image scores at each threshold, and the image count.
        self.iou_sum = self.add_variable((n,), "zeros", dtype="float64", name="iou_sum")
        self.precision_sum = self.add_variable((n,), "zeros", dtype="float64", name="precision_sum")
        self.recall_sum = self.add_variable((n,), "zeros", dtype="float64", name="recall_sum")
        self.images = self.add_variable((), "zeros", dtype="float64", name="images")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, selected = prepare(y_true, y_pred, sample_weight)
        n = len(self.thresholds)
        pred = tf.cast(y_pred, tf.float32)
        salient = tf.cast(y_true, tf.float32) > 0.5
        # level = number of thresholds below p, so p > t_i exactly when i < level.
        thresholds = tf.constant([self.thresholds], tf.float32)
        level = tf.reshape(
            tf.searchsorted(thresholds, tf.reshape(pred, (1, -1)), side="left"), tf.shape(pred)
        )
        # Per-image histograms of the levels of selected salient (group 0) and
        # non-salient (1) pixels; unselected pixels (2) are dropped.
        batch = tf.shape(pred)[0]
        image = tf.broadcast_to(tf.range(batch)[:, None, None], tf.shape(pred))
        group = tf.where(selected, tf.where(salient, 0, 1), 2)
        segment = (group * batch + image) * (n + 1) + level
        counts = tf.math.unsorted_segment_sum(
            tf.ones_like(segment, tf.float64), segment, 3 * batch * (n + 1)
        )
        hist = tf.reshape(counts, (3, batch, n + 1))[:2]
        # Pixels above threshold i are those with level > i.
        above = tf.cumsum(hist, axis=-1, reverse=True, exclusive=True)[..., :n]
        tp, fp = above[0], above[1]
        positives = tf.reduce_sum(hist[0], axis=-1, keepdims=True)
        union = positives + fp
        iou = tf.where(union > 0, tf.math.divide_no_nan(tp, union), tf.ones_like(union))
        precision = tf.math.divide_no_nan(tp, tp + fp)
        recall = tf.math.divide_no_nan(tp, positives)
        counted = tf.cast(tf.reduce_sum(hist, axis=(0, 2)) > 0, tf.float64)[:, None]
        self.iou_sum.assign_add(tf.reduce_sum(iou * counted, axis=0))
        self.precision_sum.assign_add(tf.reduce_sum(precision * counted, axis=0))
        self.recall_sum.assign_add(tf.reduce_sum(recall * counted, axis=0))
        self.images.assign_add(tf.reduce_sum(counted))

    def result(self):
        images = tf.convert_to_tensor(self.images)
        miou = tf.math.divide_no_nan(tf.convert_to_tensor(self.iou_sum), images)
        precision = tf.math.divide_no_nan(tf.convert_to_tensor(self.precision_sum), images)
        recall = tf.math.divide_no_nan(tf.convert_to_tensor(self.recall_sum), images)
        b2 = self.beta_squared
        f = tf.math.divide_no_nan((1 + b2) * precision * recall, b2 * precision + recall)
        return {
            "saliency_maxiou": tf.cast(100.0 * tf.reduce_max(miou), tf.float32),
            "saliency_maxf": tf.cast(100.0 * tf.reduce_max(f), tf.float32),
        }

    def get_config(self):
        config = super().get_config()
        config.update({"thresholds": list(self.thresholds), "beta_squared": self.beta_squared})
        return config

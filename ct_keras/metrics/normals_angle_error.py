import math

import keras
import tensorflow as tf

from ct_keras.metrics._inputs import prepare
from ct_keras.tasks import NORMALS

WITHIN_DEGREES = (11.25, 22.5, 30.0)


@keras.saving.register_keras_serializable(package="ct_keras")
class NormalsAngleError(keras.metrics.Metric):
    """Angular error of surface normals, in degrees, over all pixels of the split.

    The error of a pixel is the angle between the predicted and the labelled normal,
    computed as atan2(‖p × y‖, p · y): exact for any vector lengths and accurate at
    small angles, where arccos of a float32 dot product is not. Pixels whose label is
    the zero vector (invalid) or that the Task Palette gives to other tasks are not
    counted; a zero predicted vector counts as 90°. Over the counted pixels of the
    whole split `result()` returns the mean, median and root mean square angle and
    the percentage of pixels with an error below 11.25°, 22.5° and 30° (strictly, as
    ASTMT), under the keys `normals_mean_angle`, `normals_median_angle`,
    `normals_rmse_angle`, `normals_within_11_25`, `normals_within_22_5`,
    `normals_within_30`.

    The median of a streaming metric comes from a histogram of `bin_width`-degree
    bins over [0°, 180°]: the middle order statistics are replaced by the centres of
    their bins, so the reported median is within `bin_width / 2` of the exact one
    (0.005° by default; float32 angles add about 1e-5°).

    Args:
        bin_width: width in degrees of the histogram bins behind the median.
        name: metric name.

    `update_state(y_true, y_pred, sample_weight=None)` takes `[B, H, W, 3]` labels and
    predictions (`decode_tensor(raw, NORMALS)`) and the `[B, H, W]` selection of this
    task (non-zero = selected).
    """

    def __init__(self, bin_width=0.01, name="normals_angle_error", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 < bin_width <= 180:
            raise ValueError(f"`bin_width` must be in (0, 180] degrees. Received {bin_width!r}")
        self.task = NORMALS
        self.bin_width = float(bin_width)
        self.num_bins = math.ceil(180.0 / self.bin_width - 1e-9)
        self.count = self.add_variable((), "zeros", dtype="float64", name="count")
        self.angle_sum = self.add_variable((), "zeros", dtype="float64", name="angle_sum")
        self.squared_sum = self.add_variable((), "zeros", dtype="float64", name="squared_sum")
        self.within = self.add_variable(
            (len(WITHIN_DEGREES),), "zeros", dtype="float64", name="within"
        )
        self.histogram = self.add_variable(
            (self.num_bins,), "zeros", dtype="float64", name="histogram"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, selected = prepare(y_true, y_pred, sample_weight, channels=3)
        label = tf.cast(y_true, tf.float32)
        pred = tf.cast(y_pred, tf.float32)
        cosine = tf.reduce_sum(pred * label, axis=-1)
        sine = tf.norm(tf.linalg.cross(pred, label), axis=-1)
        angle = tf.where(
            tf.reduce_any(pred != 0, axis=-1),
            tf.atan2(sine, cosine) * (180.0 / math.pi),
            90.0 * tf.ones_like(cosine),
        )
        counted = selected & tf.reduce_any(label != 0, axis=-1)
        weight = tf.cast(counted, tf.float64)
        angle64 = tf.cast(angle, tf.float64)
        self.count.assign_add(tf.reduce_sum(weight))
        self.angle_sum.assign_add(tf.reduce_sum(weight * angle64))
        self.squared_sum.assign_add(tf.reduce_sum(weight * tf.square(angle64)))
        self.within.assign_add(tf.stack([
            tf.reduce_sum(weight * tf.cast(angle < limit, tf.float64)) for limit in WITHIN_DEGREES
        ]))
        bins = tf.clip_by_value(
            tf.cast(tf.floor(angle / self.bin_width), tf.int32), 0, self.num_bins - 1
        )
        segment = tf.where(counted, bins, self.num_bins)  # the last segment is dropped
        counts = tf.math.unsorted_segment_sum(
            tf.ones_like(segment, tf.float64), segment, self.num_bins + 1
        )
        self.histogram.assign_add(counts[:-1])

    def result(self):
        count = tf.convert_to_tensor(self.count)
        mean = tf.math.divide_no_nan(tf.convert_to_tensor(self.angle_sum), count)
        rmse = tf.sqrt(tf.math.divide_no_nan(tf.convert_to_tensor(self.squared_sum), count))
        within = 100.0 * tf.math.divide_no_nan(tf.convert_to_tensor(self.within), count)
        # Ranks (1-based) of the two middle order statistics; equal when count is odd.
        cumulative = tf.cumsum(tf.convert_to_tensor(self.histogram))
        middle = tf.stack([tf.floor((count + 1) / 2), tf.floor(count / 2) + 1])
        bin_of_rank = tf.reduce_sum(
            tf.cast(cumulative[None, :] < middle[:, None], tf.float64), axis=1
        )
        median = (tf.reduce_mean(bin_of_rank) + 0.5) * self.bin_width
        median = tf.where(count > 0, median, tf.zeros_like(median))
        result = {
            "normals_mean_angle": mean,
            "normals_median_angle": median,
            "normals_rmse_angle": rmse,
        }
        for limit, value in zip(WITHIN_DEGREES, tf.unstack(within)):
            result["normals_within_" + f"{limit:g}".replace(".", "_")] = value
        return {key: tf.cast(value, tf.float32) for key, value in result.items()}

    def get_config(self):
        config = super().get_config()
        config.update({"bin_width": self.bin_width})
        return config

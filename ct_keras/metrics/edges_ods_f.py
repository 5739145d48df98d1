import keras
import numpy as np
import tensorflow as tf

from ct_keras.metrics._inputs import check_thresholds, prepare
from ct_keras.tasks import EDGES


def edge_match_counts(pred, label, selected, thresholds, max_dist=0.0075):
    """BSDS boundary matching of a batch: `[4, T]` float64 `(cntR, sumR, cntP, sumP)`.

    For each image and threshold t (`thresholds` ascending) the prediction `p >= t` is thinned
    (BSDS `bwmorph(..., 'thin', inf)`) and matched one-to-one to the label pixels
    with pyEdgeEval's `correspond_pixels` (the BSDS `correspondPixels`), within
    `max_dist` × the image diagonal. cntR / sumR = matched / all label pixels,
    cntP / sumP = matched / all predicted pixels, summed over the batch. Pixels
    outside `selected` are zeroed in both maps first.
    """
    # pyEdgeEval pulls in OpenCV: import it when edges are actually scored.
    from pyEdgeEval._lib import correspond_pixels
    from pyEdgeEval.preprocess import binary_thin

    if np.any(np.diff(thresholds) < 0):
        raise ValueError(f"`thresholds` must be ascending. Received {list(thresholds)}")
    counts = np.zeros((4, len(thresholds)), np.float64)
    for p, y, s in zip(pred, label, selected):
        p = np.where(s, p, 0.0)
        y = (y > 0.5) & s
        label_pixels = y.sum()
        previous, row = None, None
        for i, t in enumerate(thresholds):
            edges = p >= max(t, np.finfo(np.float32).eps)
            if not edges.any():
                # Thresholds ascend: nothing is predicted from here on.
                counts[1, i:] += label_pixels
                break
            if previous is None or not np.array_equal(edges, previous):
                previous = edges
                thin = binary_thin(edges)
                matched_label = matched_pred = 0
                if label_pixels:
                    match_pred, match_label, _, _ = correspond_pixels(thin, y, max_dist=max_dist)
                    matched_label, matched_pred = (match_label > 0).sum(), (match_pred > 0).sum()
                row = (matched_label, label_pixels, matched_pred, thin.sum())
            counts[:, i] += row
    return counts


@keras.saving.register_keras_serializable(package="ct_keras")
class EdgesOdsF(keras.metrics.Metric):
    """Optimal dataset scale F-measure (odsF) of edges, in percent.

    The protocol of seism / the BSDS benchmark, as ASTMT, MTI-Net and the paper use
    it (see `edge_match_counts`): per threshold, the counts cntR, sumR, cntP, sumP are
    summed over the whole split; recall R = ΣcntR / ΣsumR, precision P = ΣcntP / ΣsumP,
    F = 2PR / (P + R) (0 where undefined), and odsF = max over the thresholds of F.
    Like seism, the maximum is taken over the sampled thresholds (the BSDS MATLAB
    benchmark also interpolates between them, which can read slightly higher).
    Labels are used as given (PASCAL-MT edges are already thin). Pixels the Task
    Palette gives to other tasks are set to 0 in both the prediction and the label,
    so an edge there is neither missed nor a false alarm; note that the matching
    tolerance can still pair a selected prediction with a selected label pixel
    across a small unselected gap.

    The matching is the BSDS code's: it approximates the optimal pairing through a
    sparse random graph of outlier connections, seeded from the clock, so matched
    counts vary between runs by a few pixels per thousand (and two identical maps can
    score a recall of ~99.5 %); the published BSDS / seism numbers come from this
    same matcher.

    It runs in numpy through `tf.numpy_function`, so the metric works in `tf.function`
    and `model.evaluate`, on the host CPU, one image at a time. It is slow: about 10 s
    of CPU per 256×256 image at 99 thresholds, 1 s at 9 (measured on the 2-core
    EPYC machine with 4.7 % edge pixels; ~90 % of it is matching), so roughly 14 h on
    one core for the 5105 val images. Use a few thresholds while training and 99 for
    the reported number.

    Args:
        thresholds: number of thresholds K, spread as `linspace(1/(K+1), K/(K+1), K)`
            (99 gives 0.01, ..., 0.99, the ASTMT / seism values), or a list of values.
        max_dist: matching tolerance as a fraction of the image diagonal (BSDS 0.0075).
        name: metric name.

    `update_state(y_true, y_pred, sample_weight=None)` takes `[B, H, W]` 0/1 labels,
    `[B, H, W]` probabilities (`decode_tensor(raw, EDGES)`) and the `[B, H, W]`
    selection of this task (non-zero = selected).
    """

    def __init__(self, thresholds=99, max_dist=0.0075, name="edges_odsf", **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(thresholds, (int, np.integer)) and not isinstance(thresholds, bool):
            if thresholds < 1:
                raise ValueError(
                    f"`thresholds` must be a positive count or a list. Received {thresholds!r}"
                )
            thresholds = np.linspace(1, thresholds, thresholds) / (thresholds + 1)
        if not 0 < max_dist < 1:
            raise ValueError(f"`max_dist` must be in (0, 1). Received {max_dist!r}")
        self.task = EDGES
        self.thresholds = tuple(check_thresholds(thresholds).tolist())
        self.max_dist = float(max_dist)
        # Rows: cntR, sumR, cntP, sumP; one column per threshold.
        self.counts = self.add_variable(
            (4, len(self.thresholds)), "zeros", dtype="float64", name="counts"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, selected = prepare(y_true, y_pred, sample_weight)
        thresholds = np.asarray(self.thresholds)

        def count(pred, label, mask):
            return edge_match_counts(pred, label, mask, thresholds, self.max_dist)

        counts = tf.numpy_function(
            count,
            [tf.cast(y_pred, tf.float32), tf.cast(y_true, tf.float32), selected],
            tf.float64, stateful=False,
        )
        counts.set_shape(self.counts.shape)
        self.counts.assign_add(counts)

    def result(self):
        cnt_r, sum_r, cnt_p, sum_p = tf.unstack(tf.convert_to_tensor(self.counts))
        recall = tf.math.divide_no_nan(cnt_r, sum_r)
        precision = tf.math.divide_no_nan(cnt_p, sum_p)
        f = tf.math.divide_no_nan(2 * precision * recall, precision + recall)
        return {"edges_odsf": tf.cast(100.0 * tf.reduce_max(f), tf.float32)}

    def get_config(self):
        config = super().get_config()
        config.update({"thresholds": list(self.thresholds), "max_dist": self.max_dist})
        return config

import json

import numpy as np
import pytest
import tensorflow as tf

from ct_keras import metrics as ctm
from ct_keras.tasks import EDGES, NORMALS, PARTS, SALIENCY, SEMSEG


def _values(result):
    return {k: float(v) for k, v in result.items()}


def _graph_update(metric, *args, **kwargs):
    tf.function(metric.update_state)(*args, **kwargs)


# ---------------------------------------------------------------- MeanIoU

def test_mean_iou_matches_a_hand_counted_confusion_matrix():
    y = np.array([[[0, 0, 1, 1],
                   [2, 2, 255, 1]]], np.int32)
    p = np.array([[[0, 1, 1, 1],
                   [2, 0, 2, 9]]], np.int32)
    m = ctm.MeanIoU(SEMSEG, num_classes=3)
    m.update_state(y, p)
    # class 0: tp 1, fp 1 (pixel 2,2→0), fn 1 (0→1)   → 1/3
    # class 1: tp 2, fp 1 (0→1), fn 1 (1→9, out of range) → 2/4
    # class 2: tp 1, fp 0 (void ignored), fn 1 (2→0)   → 1/2
    expected = 100 * (1 / 3 + 2 / 4 + 1 / 2) / 3
    assert _values(m.result()) == pytest.approx({"semseg_miou": expected}, rel=1e-6)
    np.testing.assert_array_equal(
        m.confusion.numpy(), [[1, 1, 0, 0], [0, 2, 0, 1], [1, 0, 1, 0]]
    )


def test_mean_iou_accumulates_over_batches_and_skips_classes_never_seen():
    m = ctm.MeanIoU(SEMSEG)  # 21 classes, only 0 and 5 occur
    m.update_state(np.zeros((1, 2, 2), np.int32), np.zeros((1, 2, 2), np.int32))
    assert _values(m.result())["semseg_miou"] == pytest.approx(100.0)
    m.update_state(np.full((1, 2, 2), 5, np.int32), np.array([[[5, 5], [5, 0]]], np.int32))
    # class 0: tp 4, fp 1 → 0.8; class 5: tp 3, fn 1 → 0.75; 19 absent classes skipped.
    assert _values(m.result())["semseg_miou"] == pytest.approx(100 * (0.8 + 0.75) / 2)
    m.reset_state()
    assert _values(m.result())["semseg_miou"] == 0.0
    assert float(np.sum(m.confusion.numpy())) == 0.0


def test_mean_iou_counts_only_selected_pixels_in_graph_mode():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, (2, 8, 8)).astype(np.int32)
    p = rng.integers(0, 7, (2, 8, 8)).astype(np.int32)
    mask = rng.random((2, 8, 8)) < 0.5
    masked = ctm.MeanIoU(PARTS)
    _graph_update(masked, tf.constant(y), tf.constant(p),
                  sample_weight=tf.constant(mask, tf.float32))
    # The same as scoring only the selected pixels, marking the rest void.
    reference = ctm.MeanIoU(PARTS)
    reference.update_state(np.where(mask, y, 255), p)
    np.testing.assert_array_equal(masked.confusion.numpy(), reference.confusion.numpy())
    assert masked.confusion.numpy().sum() == mask.sum()


def test_parts_images_without_people_contribute_nothing():
    person = np.array([[[0, 1], [1, 2]]], np.int32)
    pred = np.array([[[0, 1], [2, 2]]], np.int32)
    alone = ctm.MeanIoU(PARTS)
    alone.update_state(person, pred)
    mixed = ctm.MeanIoU(PARTS)
    no_people = np.full((1, 2, 2), 255, np.int32)  # an image without people
    mixed.update_state(np.concatenate([person, no_people]),
                       np.concatenate([pred, np.full((1, 2, 2), 5, np.int32)]))
    # The wrong "5" predictions of the empty image add no false positive to class 5.
    np.testing.assert_array_equal(mixed.confusion.numpy(), alone.confusion.numpy())
    assert _values(mixed.result()) == _values(alone.result())


def test_mean_iou_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`task` must be one of 0 \\(semseg\\), 1 \\(parts\\)"):
        ctm.MeanIoU(EDGES)
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer"):
        ctm.MeanIoU("semseg", num_classes=0)
    m = ctm.MeanIoU("parts")
    assert m.task == PARTS and m.name == "parts_miou"
    y = np.zeros((1, 4, 4), np.int32)
    with pytest.raises(ValueError, match="`y_pred` must hold integer class ids"):
        m.update_state(y, np.zeros((1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"`y_pred` must have shape \[B, H, W\]"):
        m.update_state(y, np.zeros((1, 4, 4, 3), np.int32))
    with pytest.raises(ValueError, match="`sample_weight` must be the \\[B, H, W\\] selection"):
        m.update_state(y, y, sample_weight=np.ones((1, 4, 5)))
    clone = ctm.MeanIoU.from_config(m.get_config())
    assert (clone.task, clone.num_classes, clone.name) == (PARTS, 7, "parts_miou")


# ---------------------------------------------------------------- saliency

def _saliency_reference(y, p, mask, thresholds, beta_squared):
    """Per-image IoU / precision / recall at each threshold, averaged over images."""
    ious, precisions, recalls = [], [], []
    for yi, pi, mi in zip(y, p, mask):
        if not mi.any():
            continue
        g = yi[mi] > 0.5
        row_iou, row_p, row_r = [], [], []
        for t in thresholds:
            b = pi[mi] > t
            tp, fp, fn = np.sum(b & g), np.sum(b & ~g), np.sum(~b & g)
            row_iou.append(1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn))
            row_p.append(tp / (tp + fp) if tp + fp else 0.0)
            row_r.append(tp / (tp + fn) if tp + fn else 0.0)
        ious.append(row_iou), precisions.append(row_p), recalls.append(row_r)
    miou = np.mean(ious, axis=0)
    prec, rec = np.mean(precisions, axis=0), np.mean(recalls, axis=0)
    f = (1 + beta_squared) * prec * rec / np.maximum(beta_squared * prec + rec, 1e-300)
    return {"saliency_maxiou": 100 * miou.max(), "saliency_maxf": 100 * f.max()}


@pytest.mark.parametrize("beta_squared", [0.3, 1.0])
def test_saliency_matches_per_image_numpy_scores(beta_squared):
    rng = np.random.default_rng(1)
    y = (rng.random((4, 6, 6)) < 0.4).astype(np.float32)
    y[1] = 0.0  # an image with nothing salient
    p = np.clip(0.6 * y + 0.5 * rng.random((4, 6, 6)), 0, 1).astype(np.float32)
    mask = rng.random((4, 6, 6)) < 0.7
    mask[3] = False  # an image where the palette never asks for saliency: not counted
    m = ctm.SaliencyMaxIoU(beta_squared=beta_squared)
    m.update_state(y[:2], p[:2], sample_weight=mask[:2])
    _graph_update(m, tf.constant(y[2:]), tf.constant(p[2:]), sample_weight=tf.constant(mask[2:]))
    expected = _saliency_reference(y, p, mask, np.linspace(0.2, 0.9, 15), beta_squared)
    assert _values(m.result()) == pytest.approx(expected, rel=1e-5)
    assert float(m.images.numpy()) == 3


def test_saliency_conventions_for_empty_images_and_reset():
    m = ctm.SaliencyMaxIoU(thresholds=[0.5])
    # Neither labelled nor predicted salient: IoU 1, precision = recall = 0.
    m.update_state(np.zeros((1, 3, 3), np.float32), np.zeros((1, 3, 3), np.float32))
    assert _values(m.result()) == {"saliency_maxiou": 100.0, "saliency_maxf": 0.0}
    # A prediction exactly at the threshold is not salient (p > t, as ASTMT).
    m.update_state(np.ones((1, 3, 3), np.float32), np.full((1, 3, 3), 0.5, np.float32))
    assert _values(m.result())["saliency_maxiou"] == pytest.approx(50.0)
    m.reset_state()
    assert float(m.images.numpy()) == 0 and _values(m.result())["saliency_maxiou"] == 0.0
    with pytest.raises(ValueError, match="`thresholds` must be a non-empty 1-D list"):
        ctm.SaliencyMaxIoU(thresholds=[0.5, 1.5])


# ---------------------------------------------------------------- normals

def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_normals_angles_match_numpy_including_the_histogram_median():
    rng = np.random.default_rng(2)
    y = _unit(rng.standard_normal((3, 9, 7, 3))).astype(np.float32)
    p = _unit(y + 0.6 * rng.standard_normal(y.shape)).astype(np.float32)
    y[0, :2] = 0.0  # invalid labels
    mask = rng.random((3, 9, 7)) < 0.8
    m = ctm.NormalsAngleError()
    m.update_state(y[:1], p[:1], sample_weight=mask[:1])
    _graph_update(m, tf.constant(y[1:]), tf.constant(p[1:]), sample_weight=tf.constant(mask[1:]))

    valid = mask & np.any(y != 0, axis=-1)
    cos = np.sum(y.astype(np.float64) * p, axis=-1) / np.linalg.norm(p, axis=-1)
    angles = np.degrees(np.arccos(np.clip(cos, -1, 1)))[valid]
    got = _values(m.result())
    assert float(m.count.numpy()) == valid.sum()
    assert got["normals_mean_angle"] == pytest.approx(angles.mean(), abs=1e-4)
    assert got["normals_rmse_angle"] == pytest.approx(np.sqrt(np.mean(angles ** 2)), abs=1e-4)
    assert abs(got["normals_median_angle"] - np.median(angles)) <= 0.005 + 1e-4
    for key, limit in (("11_25", 11.25), ("22_5", 22.5), ("30", 30.0)):
        expected = 100 * np.mean(angles < limit)
        assert got[f"normals_within_{key}"] == pytest.approx(expected, abs=1e-4)
    # With an odd count the median is one order statistic: again within half a bin.
    odd = ctm.NormalsAngleError(bin_width=0.5)
    odd.update_state(y[1:2, :1, :5], p[1:2, :1, :5])
    exact = np.median(np.degrees(np.arccos(np.clip(np.sum(y[1, 0, :5] * p[1, 0, :5], -1), -1, 1))))
    assert abs(float(odd.result()["normals_median_angle"]) - exact) <= 0.25 + 1e-4


def test_normals_small_angles_and_special_vectors():
    m = ctm.NormalsAngleError()
    angle = np.radians(0.02)
    y = np.array([[[[0, 0, 1], [0, 0, 1], [0, 0, 0]]]], np.float32)
    p = np.array([[[[np.sin(angle), 0, np.cos(angle)], [0, 0, 0], [1, 0, 0]]]], np.float32)
    m.update_state(y, p)
    got = _values(m.result())
    # 0.02° survives (arccos of a float32 dot product would give 0); a zero prediction
    # is 90°; the zero label is not counted.
    assert float(m.count.numpy()) == 2
    assert got["normals_mean_angle"] == pytest.approx((0.02 + 90) / 2, abs=1e-4)
    assert got["normals_within_11_25"] == pytest.approx(50.0)
    m.reset_state()
    assert all(v == 0 for v in _values(m.result()).values())
    with pytest.raises(ValueError, match=r"`y_true` must have shape \[B, H, W, 3\]"):
        m.update_state(np.zeros((1, 2, 2), np.float32), np.zeros((1, 2, 2), np.float32))


# ---------------------------------------------------------------- edges

def _line_image(rows=(), cols=(), size=128):
    image = np.zeros((1, size, size), np.float32)
    for r in rows:
        image[0, r, 10:size - 10] = 1.0
    for c in cols:
        image[0, 10:size - 10, c] = 1.0
    return image


# The BSDS matcher pairs pixels through a random sparse outlier graph (seeded from the
# clock), so a few of ~100 edge pixels can stay unmatched even when a perfect pairing
# exists: matched counts are checked within this many pixels, everything else exactly.
MATCH_NOISE = 4


def test_edges_odsf_perfect_empty_and_shifted_predictions():
    label = _line_image(rows=(40,), cols=(90,))
    soft = 0.8 * label  # a confident prediction; thresholds above 0.8 find nothing

    def odsf(pred, label=label, **kwargs):
        m = ctm.EdgesOdsF(thresholds=3, **kwargs)
        m.update_state(label, pred)
        return _values(m.result())["edges_odsf"]

    assert odsf(soft) >= 97.0
    assert odsf(np.zeros_like(label)) == 0.0
    # 0.0075 × the 181-pixel diagonal = 1.36 pixels: one pixel off still matches,
    # five pixels off does not.
    assert odsf(_line_image(rows=(41,), cols=(91,))) >= 97.0
    row = _line_image(rows=(40,))
    assert odsf(_line_image(rows=(45,)), row) == 0.0
    assert odsf(_line_image(rows=(45,)), row, max_dist=0.05) >= 97.0


def test_edges_counts_thresholds_and_thinning():
    label = _line_image(rows=(40,))
    # A 3-pixel-thick band around the line: thinned to one pixel before matching.
    thick = np.zeros_like(label)
    thick[0, 39:42, 10:118] = 0.6
    thick[0, 80, 10:118] = 0.3  # a weak false edge, found only at low thresholds
    counts = ctm.edge_match_counts(thick, label, np.ones_like(label, bool), [0.2, 0.5, 0.7])
    n = label.sum()
    assert counts[1].tolist() == [n, n, n]  # sumR: every label pixel at every threshold
    assert n - MATCH_NOISE <= counts[0, 1] <= n  # recall ≈ 1
    assert n - 2 <= counts[3, 1] <= n + 2  # thinned: about one line, not three
    assert counts[3, 0] == counts[3, 1] + n  # plus the false edge at t = 0.2...
    assert counts[2, 0] <= counts[3, 1]  # ...which matches nothing
    assert counts[:, 2].tolist() == [0, n, 0, 0]  # nothing above 0.6
    m = ctm.EdgesOdsF(thresholds=[0.7, 0.2, 0.5])
    _graph_update(m, tf.constant(label), tf.constant(thick))
    got = m.counts.numpy()
    np.testing.assert_array_equal(got[[1, 3]], counts[[1, 3]])
    np.testing.assert_allclose(got[[0, 2]], counts[[0, 2]], atol=MATCH_NOISE)
    assert ctm.EdgesOdsF().thresholds == pytest.approx(np.arange(1, 100) / 100)
    with pytest.raises(ValueError, match="`thresholds` must be ascending"):
        ctm.edge_match_counts(thick, label, np.ones_like(label, bool), [0.5, 0.2])


def test_edges_unselected_pixels_are_zeroed_in_prediction_and_label():
    label = _line_image(rows=(40,), cols=(90,))
    pred = _line_image(rows=(40, 100))  # misses column 90, adds row 100...
    pred[0, 50:118, 20] = 1.0  # ...and part of column 20
    mask = np.zeros_like(label, bool)
    mask[0, :64, :64] = True  # only the top-left quadrant is edges
    m = ctm.EdgesOdsF(thresholds=1)
    m.update_state(label, pred, sample_weight=mask)
    # Inside the quadrant: row 40 (columns 10..63) in both, column 20 (rows 50..63).
    cnt_r, sum_r, cnt_p, sum_p = m.counts.numpy()[:, 0]
    assert sum_r == 54 and sum_p == 54 + 14
    assert 54 - MATCH_NOISE <= cnt_r == cnt_p <= 54
    m.reset_state()
    assert not m.counts.numpy().any()
    with pytest.raises(ValueError, match="`thresholds` must be a positive count"):
        ctm.EdgesOdsF(thresholds=0)


# ---------------------------------------------------------------- multi-task

TABLE1_STN_S = {"edges_odsf": 69.50, "semseg_miou": 63.69, "parts_miou": 58.76,
                "normals_mean_angle": 15.58, "saliency_maxiou": 69.38}
TABLE1_MHN_S = {"edges_odsf": 68.10, "semseg_miou": 60.77, "parts_miou": 54.21,
                "normals_mean_angle": 16.44, "saliency_maxiou": 67.21}
TABLE1_CTN_R1R = {"edges_odsf": 68.60, "semseg_miou": 62.45, "parts_miou": 52.59,
                  "normals_mean_angle": 16.93, "saliency_maxiou": 67.81}


def test_delta_m_reproduces_the_paper_and_its_signs():
    assert ctm.delta_m(TABLE1_MHN_S, TABLE1_STN_S) == pytest.approx(-4.60, abs=0.005)
    assert ctm.delta_m(TABLE1_CTN_R1R, TABLE1_STN_S) == pytest.approx(-4.93, abs=0.005)
    assert ctm.delta_m(TABLE1_STN_S, TABLE1_STN_S) == 0.0
    # Lower is better for the normals angle: a smaller error is a gain.
    better_normals = dict(TABLE1_STN_S, normals_mean_angle=15.58 * 0.9)
    assert ctm.delta_m(better_normals, TABLE1_STN_S) == pytest.approx(10.0 / 5)
    better_seg = {"semseg_miou": tf.constant(70.059), "normals_within_30": 1.0}
    assert ctm.delta_m(better_seg, TABLE1_STN_S) == pytest.approx(10.0, rel=1e-4)
    with pytest.raises(ValueError, match="share none of the headline metrics"):
        ctm.delta_m({"normals_within_30": 50.0}, TABLE1_STN_S)
    with pytest.raises(ValueError, match="`baseline\\['edges_odsf'\\]` must be non-zero"):
        ctm.delta_m(TABLE1_STN_S, dict(TABLE1_STN_S, edges_odsf=0.0))


def test_paper_row_follows_table_1_column_order():
    assert ctm.paper_row(TABLE1_CTN_R1R) == "| 68.60 | 62.45 | 52.59 | 16.93 | 67.81 |"
    only_saliency = {"saliency_maxiou": np.float32(67.814)}
    assert ctm.paper_row(only_saliency) == "| – | – | – | – | 67.81 |"
    assert ctm.paper_row(TABLE1_MHN_S, TABLE1_STN_S).endswith("| 16.44 | 67.21 | -4.60% |")


def test_task_metrics_result_keys_and_task_ids():
    metrics = ctm.task_metrics(edge_thresholds=2)
    assert [m.task for m in metrics] == [SEMSEG, PARTS, EDGES, SALIENCY, NORMALS]
    assert metrics[2].thresholds == pytest.approx([1 / 3, 2 / 3])
    keys = [k for m in metrics for k in m.result()]
    assert keys == ["semseg_miou", "parts_miou", "edges_odsf", "saliency_maxiou",
                    "saliency_maxf", "normals_mean_angle", "normals_median_angle",
                    "normals_rmse_angle", "normals_within_11_25", "normals_within_22_5",
                    "normals_within_30"]
    assert set(keys) == set(ctm.HIGHER_IS_BETTER)
    assert [m.task for m in ctm.task_metrics([NORMALS, SEMSEG])] == [NORMALS, SEMSEG]
    assert len({m.name for m in metrics}) == 5  # distinct names, as a Keras model needs
    # Round trip through JSON, with every constructor argument away from its default.
    odd = [ctm.MeanIoU(PARTS, name="p"), ctm.EdgesOdsF(thresholds=3, max_dist=0.01),
           ctm.SaliencyMaxIoU(thresholds=[0.3, 0.6], beta_squared=1.0), ctm.NormalsAngleError(bin_width=0.5)]
    for m in odd:
        clone = type(m).from_config(json.loads(json.dumps(m.get_config())))
        assert clone.get_config() == m.get_config()
        for attr in ("task", "thresholds", "max_dist", "beta_squared", "bin_width", "name"):
            if hasattr(m, attr):
                assert np.all(np.asarray(getattr(clone, attr)) == np.asarray(getattr(m, attr))), attr
    assert (odd[1].max_dist, odd[2].beta_squared, odd[3].bin_width) == (0.01, 1.0, 0.5)
    with pytest.raises(ValueError, match="`task` must be one of 0 \\(semseg\\).*Received task=5"):
        ctm.task_metrics([0, 5])


# ---------------------------------------------------------------- distribution

# Two virtual CPUs must be configured before TensorFlow starts, hence a fresh process.
_MIRRORED_SCRIPT = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from ct_keras import metrics as ctm

rng = np.random.default_rng(0)
B, H, W = 4, 16, 16
mask = rng.random((B, H, W)) < 0.7
inputs = {
    "0": (rng.integers(0, 21, (B, H, W)), rng.integers(0, 21, (B, H, W))),
    "2": (rng.random((B, H, W)) < 0.1, rng.random((B, H, W))),
    "3": (rng.random((B, H, W)) < 0.5, rng.random((B, H, W))),
    "4": (rng.standard_normal((B, H, W, 3)), rng.standard_normal((B, H, W, 3))),
}
inputs = {k: (np.asarray(y, np.int32 if k == "0" else np.float32),
              np.asarray(p, np.int32 if k == "0" else np.float32)) for k, (y, p) in inputs.items()}
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    distributed = ctm.task_metrics([0, 2, 3, 4], edge_thresholds=3)
batches = strategy.experimental_distribute_dataset(
    tf.data.Dataset.from_tensor_slices(dict(inputs, mask=mask)).batch(B))

@tf.function
def step(batch):
    for m in distributed:
        m.update_state(*batch[str(m.task)], sample_weight=batch["mask"])

for batch in batches:
    replicas = len(strategy.experimental_local_results(batch["mask"]))
    strategy.run(step, args=(batch,))
single = ctm.task_metrics([0, 2, 3, 4], edge_thresholds=3)
for m in single:
    m.update_state(*inputs[str(m.task)], sample_weight=mask)
results = lambda ms: {k: float(v) for m in ms for k, v in m.result().items()}
counts = lambda ms: [float(ms[2].images.numpy()), float(ms[3].count.numpy())]
print(json.dumps({"replicas": replicas, "distributed": results(distributed),
                  "single": results(single), "counts": [counts(distributed), counts(single)]}))
"""


@pytest.mark.slow
def test_metrics_sum_over_replicas_of_a_mirrored_strategy():
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT], cwd=root, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    # The variables read back as the sum over both replicas.
    assert out["counts"][0] == out["counts"][1] and out["counts"][0][0] == 4
    single = out["single"]
    assert single["saliency_maxiou"] > 0 and single["semseg_miou"] > 0
    edges = single.pop("edges_odsf"), out["distributed"].pop("edges_odsf")
    assert out["distributed"] == pytest.approx(single, rel=1e-6)
    assert edges[0] == pytest.approx(edges[1], abs=3.0)  # matcher noise only

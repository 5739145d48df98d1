"""Rule-S evaluation of a CTN: one encoder pass for all five tasks gives the same numbers as
running the network once per task."""

import numpy as np
import pytest

from ct_keras.data import generate_pascal_mt
from ct_keras.models import CompositeTaskingNet
from ct_keras.tasks import TASK_NAMES
from ct_keras.training import evaluation


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "syn")
    generate_pascal_mt(path, 2, 6, seed=1, size=64)
    return path


def test_rule_s_all_tasks_pass_equals_one_pass_per_task(data_dir):
    net = CompositeTaskingNet(backbone="resnet18", image_size=64)
    fast = evaluation.evaluate_net(net, data_dir, rule="s", image_size=64, batch_size=4,
                                   edge_thresholds=5)
    slow = {"rule": "s"}
    for k in range(len(TASK_NAMES)):
        dataset = evaluation.make_dataset(data_dir, "val", rule="s", image_size=(64, 64), batch_size=4,
                                          augment=False, task=k, drop_remainder=False)
        logs = evaluation._run(net, dataset, [k], 5, None, 0)
        slow.update({key: v for key, v in logs.items() if key.startswith(TASK_NAMES[k])})
    assert sorted(fast) == sorted(slow)
    for key in fast:
        if key == "rule":
            continue
        # The edge matcher draws a random outlier graph: counts may move by a pixel or two.
        tolerance = 0.5 if key == "edges_odsf" else 1e-3 * max(1.0, abs(slow[key]))
        assert np.isclose(fast[key], slow[key], atol=tolerance), (key, fast[key], slow[key])
    assert fast["semseg_loss"] > 0 and fast["normals_mean_angle"] > 0


# MHN under rule s (its five per-task passes, five XLA compiles: 285 s here) passed once;
# it runs the code of STN under s, with the MHN that r2 compiles.
@pytest.mark.slow
@pytest.mark.parametrize("model, rule", [("stn", "s"), ("stn", "r2"), ("mhn", "r2"), ("ctn", "s"), ("ctn", "r2")])
def test_evaluation_with_xla_gives_the_numbers_without(data_dir, model, rule):
    # jit_compile="auto" turns XLA on wherever Keras finds a GPU; the odsF matcher is host
    # code (`tf.numpy_function`) that XLA cannot compile, so only the forward passes are.
    from ct_keras.models import build_model

    options = {"stn": {"task": "edges"}, "mhn": {}, "ctn": {"embedding_dim": 32}}[model]
    net = build_model(model, backbone="resnet18", image_size=64, **options)
    kwargs = dict(rule=rule, image_size=64, batch_size=3, edge_thresholds=5, steps=1)
    plain = evaluation.evaluate_net(net, data_dir, jit_compile=False, **kwargs)
    xla = evaluation.evaluate_net(net, data_dir, jit_compile=True, **kwargs)
    assert sorted(xla) == sorted(plain)
    assert "edges_odsf" in xla and (model == "stn" or "semseg_miou" in xla)
    for key in plain:
        if key == "rule":
            continue
        tolerance = 0.5 if key == "edges_odsf" else 1e-3 * max(1.0, abs(plain[key]))
        assert np.isclose(xla[key], plain[key], atol=tolerance), (key, xla[key], plain[key])


def test_a_task_whose_region_held_no_valid_label_is_left_out_not_scored_zero():
    """Normals under R2 on a set whose R2-normals classes carry no normals: no pixel was
    scored, and 0° would read as perfect — the task's metrics are left out (Δm and the
    tables then go without it)."""
    from ct_keras.metrics import task_metrics

    metrics = task_metrics([0, 4])  # semseg, normals
    semseg, normals = metrics
    labels = np.zeros((1, 4, 4), np.int32)
    semseg.update_state(labels, labels, sample_weight=np.ones((1, 4, 4), np.float32))
    normals.update_state(np.zeros((1, 4, 4, 3), np.float32), np.ones((1, 4, 4, 3), np.float32) / 3 ** 0.5,
                         sample_weight=np.ones((1, 4, 4), np.float32))  # zero targets: all invalid
    out = {"semseg_miou": 100.0, "normals_mean_angle": 0.0, "normals_median_angle": 0.0, "normals_loss": 0.0}
    assert evaluation._drop_unscored(dict(out), metrics) == {"semseg_miou": 100.0, "normals_loss": 0.0}

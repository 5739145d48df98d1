"""A model trained with other class anchors than the paper's is scored, exported, served and
drawn with *its* anchors: tools/train.py --anchors → model.json → evaluation → SavedModel,
TFLite and their info files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from ct_keras import tasks
from ct_keras.data import generate_pascal_mt, make_dataset
from ct_keras.losses import anchor_focal_loss
from ct_keras.metrics import task_metrics
from ct_keras.models import load_model_dir
from tests.deploy_helpers import random_inputs
from tests.helpers import rotated_anchors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 64
CLASS_TASKS = (tasks.SEMSEG, tasks.PARTS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A CTN trained 2 steps by tools/train.py with rotated anchors: (model_dir, data_dir, anchors)."""
    root = tmp_path_factory.mktemp("anchors")
    data_dir = str(root / "syn")
    generate_pascal_mt(data_dir, 4, 2, seed=0, size=SIZE)
    anchors = rotated_anchors()
    anchors_file = root / "my_anchors.json"
    anchors_file.write_text(json.dumps(anchors))
    model_dir = root / "run"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "train.py"), f"--data_dir={data_dir}",
         f"--model_dir={model_dir}", f"--anchors={anchors_file}", "--backbone=resnet18",
         f"--image_size={SIZE}", "--batch_size=2", "--model_options=embedding_dim=32", "--epochs=1",
         "--steps_per_epoch=2", "--validation_steps=1", "--edge_thresholds=3", "--verbose=0",
         "--log_pictures=true"],
        capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    return str(model_dir), data_dir, anchors


def _region_mismatch(a, b, region):
    return float(np.mean(a[region] != b[region]))


@pytest.mark.slow
def test_training_records_the_anchors(trained):
    model_dir, _, anchors = trained
    assert anchors != tasks.paper_anchors()
    assert json.loads(open(os.path.join(model_dir, "model.json")).read())["config"]["anchors"] == anchors
    assert load_model_dir(model_dir).anchors == anchors
    assert os.path.isfile(os.path.join(model_dir, "metrics.json"))


@pytest.mark.slow
def test_evaluation_scores_with_the_models_anchors(trained):
    from ct_keras.training.evaluation import evaluate_net

    model_dir, data_dir, anchors = trained
    net = load_model_dir(model_dir)
    # Rule R1r: the trainer's test_step (loss and metrics of each palette region).
    got = evaluate_net(net, data_dir, rule="r1r", image_size=SIZE, batch_size=2, edge_thresholds=3)
    inputs, targets = next(iter(make_dataset(data_dir, "val", rule="r1r", image_size=(SIZE, SIZE),
                                             batch_size=2, augment=False, seed=0, drop_remainder=False)))
    raw = net(inputs, training=False)
    palette = inputs["palette"].numpy()
    for k in CLASS_TASKS:
        name = tasks.TASK_NAMES[k]
        explicit = float(anchor_focal_loss(raw, targets[name], tasks.anchor_matrix(k, anchors), palette == k))
        np.testing.assert_allclose(got[f"{name}_loss"], explicit, rtol=1e-4, atol=1e-6)
    paper = float(anchor_focal_loss(raw, targets["semseg"], tasks.anchor_matrix(tasks.SEMSEG), palette == 0))
    assert abs(paper - got["semseg_loss"]) > 1e-3
    (miou,) = task_metrics([tasks.SEMSEG])
    miou.update_state(targets["semseg"], tasks.decode(raw.numpy(), tasks.SEMSEG, anchors),
                      sample_weight=(palette == 0).astype("float32"))
    np.testing.assert_allclose(got["semseg_miou"], float(miou.result()["semseg_miou"]), atol=1e-3)

    # Rule S: the CTN's one-encoder-pass path (FastCompositeTasking.all_tasks).
    got = evaluate_net(net, data_dir, rule="s", image_size=SIZE, batch_size=2, edge_thresholds=3)
    inputs, targets = next(iter(make_dataset(data_dir, "val", rule="s", task=0, image_size=(SIZE, SIZE),
                                             batch_size=2, augment=False, seed=0, drop_remainder=False)))
    (miou,) = task_metrics([tasks.SEMSEG])
    for k in CLASS_TASKS:
        name = tasks.TASK_NAMES[k]
        raw = net({"image": inputs["image"], "palette": tf.fill(tf.shape(inputs["palette"]), k)})
        explicit = float(anchor_focal_loss(raw, targets[name], tasks.anchor_matrix(k, anchors)))
        np.testing.assert_allclose(got[f"{name}_loss"], explicit, rtol=1e-3, atol=1e-6)
        if k == tasks.SEMSEG:
            miou.update_state(targets[name], tasks.decode(raw.numpy(), k, anchors),
                              sample_weight=np.ones(raw.shape[:3], "float32"))
    np.testing.assert_allclose(got["semseg_miou"], float(miou.result()["semseg_miou"]), atol=1e-3)


@pytest.mark.slow
def test_exports_decode_with_the_models_anchors(trained, tmp_path):
    from ct_keras.deploy.saved_model import export_saved_model
    from ct_keras.deploy.tflite import export_tflite, run_tflite
    from ct_keras.deploy.user_inputs import read_export_info, read_tflite_info

    model_dir, _, anchors = trained
    net = load_model_dir(model_dir)
    path = export_saved_model(net, str(tmp_path / "export"))
    info = read_export_info(path)
    assert info["anchors"] == anchors and info["config"]["anchors"] == anchors
    served = tf.saved_model.load(path)
    image, palette = random_inputs(batch=2, seed=3, size=SIZE)
    out = {k: v.numpy() for k, v in served.signatures["serving_default"](
        image=tf.constant(image), palette=tf.constant(palette)).items()}
    mine = tasks.decode_composite(out["raw"], palette, anchors)
    paper = tasks.decode_composite(out["raw"], palette)
    for k in CLASS_TASKS:
        name, region = tasks.TASK_NAMES[k], palette == k
        assert region.any()
        # Equal up to exact ties between two anchors (float rounding of the two decoders).
        assert _region_mismatch(out[name], mine[name], region) < 1e-3
        assert _region_mismatch(out[name], paper[name], region) > 0.5
    every = {k: v.numpy() for k, v in served.signatures["all_tasks"](image=tf.constant(image)).items()}
    for k in CLASS_TASKS:
        name = tasks.TASK_NAMES[k]
        mine = tasks.decode(every["raw"][:, k], k, anchors)
        assert np.mean(every[name] != mine) < 1e-3
        assert np.mean(every[name] != tasks.decode(every["raw"][:, k], k)) > 0.5

    (tflite,) = export_tflite(net, str(tmp_path / "tflite"), ("fp32",)).values()
    assert read_tflite_info(tflite)["anchors"] == anchors
    lite = run_tflite(tflite, image, palette)
    mine = tasks.decode_composite(lite["raw"], palette, anchors)
    for k in CLASS_TASKS:
        name, region = tasks.TASK_NAMES[k], palette == k
        assert _region_mismatch(lite[name], mine[name], region) < 1e-3

    # Pictures of an export draw each class in the model's anchor colour.
    from ct_keras.deploy.pictures import composite_picture

    picture = composite_picture({k: v[0] for k, v in out.items()}, palette[0], info["anchors"])
    region = palette[0] == tasks.SEMSEG
    expected = tasks.class_colours(tasks.SEMSEG, anchors)[out["semseg"][0][region]]
    np.testing.assert_array_equal(picture[region], expected)

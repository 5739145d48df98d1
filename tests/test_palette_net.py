"""The palette network (paper §6.2): model, metrics, training run, and --palette=predicted."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from ct_keras.models import PaletteNet, load_model_dir, save_model_description
from ct_keras.training.palette_training import palette_metrics
from ct_keras.training.run import TrainConfig, train
from tests.deploy_helpers import tiny_ctn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_palette_net_model(tmp_path):
    net = PaletteNet(rule="r3", backbone="resnet18", image_size=64)
    assert net(np.zeros((2, 64, 64, 3), np.float32)).shape == (2, 64, 64, 5)
    save_model_description(net, str(tmp_path))
    os.makedirs(tmp_path / "checkpoints")
    net.save_weights(str(tmp_path / "checkpoints" / "best.weights.h5"))
    again = load_model_dir(str(tmp_path))
    assert isinstance(again, PaletteNet) and again.rule == "r3"
    image = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(again(image), net(image), atol=1e-5)
    with pytest.raises(ValueError, match=r"must be one of \('r2', 'r3'\).*Received 'r1r'"):
        PaletteNet(rule="r1r", backbone="resnet18", image_size=64)


def test_palette_metrics():
    counts = np.zeros((5, 5), np.int64)
    counts[0, 0], counts[0, 1], counts[1, 1], counts[2, 2] = 6, 2, 2, 10  # no saliency, normals
    metrics = palette_metrics(counts)
    # IoU semseg 6/8, parts 2/4, edges 1: mean over the three present.
    assert metrics["palette_miou"] == pytest.approx(100 * (0.75 + 0.5 + 1) / 3)
    assert metrics["palette_pixel_accuracy"] == pytest.approx(90)
    assert "palette_iou_saliency" not in metrics and metrics["palette_iou_parts"] == pytest.approx(50)
    # Targets: semseg 8 px, parts 2, edges 10 of 20. Edges everywhere: IoU 10/20, semseg and
    # parts 0, over three tasks: 16.7 %; semseg everywhere 8/20 / 3; parts 2/20 / 3.
    assert metrics["palette_best_constant"] == "edges"
    assert metrics["palette_miou_best_constant"] == pytest.approx(100 * 0.5 / 3)
    counts = np.zeros((5, 5), np.int64)
    counts[3, 3] = 4  # only saliency in the targets: saliency everywhere is perfect
    assert palette_metrics(counts)["palette_miou_best_constant"] == pytest.approx(100)


def test_palette_rule_is_checked(tmp_path):
    with pytest.raises(ValueError, match=r"--rule: the palette network \(--model=palette\) learns a "
                                         r"semantic rule"):
        TrainConfig(model_dir=str(tmp_path / "run"), data_dir=str(tmp_path), model="palette",
                    rule="r1r").check()


@pytest.mark.slow
def test_train_and_predict_with_a_palette_network(tmp_path):
    from ct_keras.data import generate_pascal_mt

    data_dir = str(tmp_path / "syn")
    generate_pascal_mt(data_dir, 8, 2, seed=0, size=64)
    run = str(tmp_path / "palette_run")
    config = TrainConfig(model_dir=run, data_dir=data_dir, model="palette", rule="r2",
                         backbone="resnet18", image_size=64, batch_size=2, epochs=1,
                         steps_per_epoch=2, validation_steps=1, decoder_lr=1e-3, encoder_lr=1e-3,
                         log_pictures=False, verbose=0)
    metrics = train(config)
    with open(os.path.join(run, "metrics.json")) as f:
        written = json.load(f)
    assert written["palette_miou"] == pytest.approx(metrics["palette_miou"])
    assert 0 <= written["palette_miou"] <= 100 and written["steps"] == 2
    assert 0 <= written["palette_pixel_accuracy"] <= 100

    ctn = tiny_ctn(seed=3)
    ctn_run = tmp_path / "ctn_run"
    save_model_description(ctn, str(ctn_run))
    os.makedirs(ctn_run / "checkpoints")
    ctn.save_weights(str(ctn_run / "checkpoints" / "best.weights.h5"))
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 90, 3), np.uint8)).save(tmp_path / "a.png")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "predict.py"), f"--model={ctn_run}",
         "--palette=predicted", f"--palette_model={run}", f"--out={tmp_path / 'out'}", "--noprogress",
         str(tmp_path / "a.png")], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    palette = np.load(tmp_path / "out" / "a.npz")["palette"]
    # The palette is the palette network's own prediction for the image, at its size.
    from ct_keras.inference.palette_model import PalettePredictor

    np.testing.assert_array_equal(palette, PalettePredictor(run)(np.asarray(Image.open(tmp_path / "a.png"))))


def _run_folder(model, folder):
    save_model_description(model, str(folder))
    os.makedirs(folder / "checkpoints")
    model.save_weights(str(folder / "checkpoints" / "best.weights.h5"))
    return str(folder)


@pytest.mark.slow
def test_a_palette_network_on_the_ctns_encoder_keeps_it_as_it_was(tmp_path):
    """--shared_encoder: the palette net starts from the CTN's encoder and trains only its
    decoder: after training its encoder (batch-norm statistics included) is the CTN's, bit
    for bit, and its decoder has moved."""
    from ct_keras.data import generate_pascal_mt
    from ct_keras.training.initial_weights import share_encoder

    data_dir = str(tmp_path / "syn")
    generate_pascal_mt(data_dir, 8, 2, seed=0, size=64)
    ctn = tiny_ctn(seed=3)  # non-trivial batch-norm statistics: a frozen BN must keep them
    ctn_run = _run_folder(ctn, tmp_path / "ctn_run")
    run = str(tmp_path / "palette_run")
    config = TrainConfig(model_dir=run, data_dir=data_dir, model="palette", rule="r2", backbone="resnet18",
                         image_size=64, batch_size=2, epochs=1, steps_per_epoch=3, validation_steps=1,
                         shared_encoder=ctn_run, log_pictures=False, verbose=0)
    train(config)
    trained = load_model_dir(run)
    for got, want in zip(trained.encoder.weights, ctn.encoder.weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=got.path)
    def decoder(net):
        encoder = {id(w) for w in net.encoder.weights}
        return [np.asarray(w) for w in net.weights if id(w) not in encoder]

    keras.utils.set_random_seed(config.seed)  # the palette net's initial weights
    initial = decoder(PaletteNet(rule="r2", backbone="resnet18", image_size=64))
    moved = [not np.array_equal(w, f) for w, f in zip(decoder(trained), initial)]
    assert len(initial) < len(trained.weights) and any(moved)

    with pytest.raises(ValueError, match=r"--shared_encoder: the encoder of .*ctn_run does not fit this "
                                         r"--backbone"):
        share_encoder(PaletteNet(rule="r2", backbone="resnet34", image_size=64), ctn_run)
    with pytest.raises(ValueError, match=r"--shared_encoder: .*syn is not a finished training run"):
        TrainConfig(model_dir=str(tmp_path / "other"), data_dir=data_dir, model="palette",
                    shared_encoder=data_dir).check()

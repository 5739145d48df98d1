import json
import os

import numpy as np
import pytest

from ct_keras.models import CompositeTaskingNet, SingleTaskNet, load_model_dir, save_model_description
from ct_keras.models.model_dir import checkpoint_path
from tests.helpers import rotated_anchors


def _inputs(n=1, size=64):
    rng = np.random.default_rng(0)
    return {"image": rng.uniform(0, 255, (n, size, size, 3)).astype("float32"),
            "palette": rng.integers(0, 5, (n, size, size)).astype("int32")}


def test_model_dir_round_trip(tmp_path):
    model = CompositeTaskingNet(backbone="resnet18", image_size=64, embedding_dim=32)
    save_model_description(model, str(tmp_path))
    os.makedirs(tmp_path / "checkpoints")
    model.save_weights(checkpoint_path(str(tmp_path), "last"))
    loaded = load_model_dir(str(tmp_path), "last")
    assert isinstance(loaded, CompositeTaskingNet) and loaded.embedding_dim == 32
    x = _inputs()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_model_dir_keeps_the_anchors(tmp_path):
    anchors = rotated_anchors()
    model = SingleTaskNet(task="semseg", backbone="resnet18", image_size=64, anchors=anchors)
    save_model_description(model, str(tmp_path))
    assert json.loads((tmp_path / "model.json").read_text())["config"]["anchors"] == anchors
    os.makedirs(tmp_path / "checkpoints")
    model.save_weights(checkpoint_path(str(tmp_path), "best"))
    assert load_model_dir(str(tmp_path)).anchors == anchors


def test_model_dir_stn_keeps_its_task(tmp_path):
    save_model_description(SingleTaskNet(task="normals", backbone="resnet18", image_size=64), str(tmp_path))
    assert json.loads((tmp_path / "model.json").read_text())["config"]["task"] == 4


def test_model_dir_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model_dir(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="model.json"):
        load_model_dir(str(tmp_path))
    save_model_description(CompositeTaskingNet(backbone="resnet18", image_size=64), str(tmp_path))
    with pytest.raises(FileNotFoundError, match="best.weights.h5"):
        load_model_dir(str(tmp_path))
    with pytest.raises(ValueError, match="checkpoint"):
        load_model_dir(str(tmp_path), "middle")


def test_read_flag_names_the_missing_flag(tmp_path):
    from ct_keras.atomic_files import write_atomically
    from ct_keras.models.model_dir import read_flag

    write_atomically(str(tmp_path / "flags.txt"), "--data_dir=/data/pmt\n--epochs=3\n")
    assert read_flag(str(tmp_path), "data_dir") == "/data/pmt"
    assert read_flag(str(tmp_path), "epochs") == "3"
    with pytest.raises(ValueError, match="does not give --rule"):
        read_flag(str(tmp_path), "rule")
    assert not (tmp_path / "flags.txt.tmp").exists()

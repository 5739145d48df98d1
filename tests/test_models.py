import json

import keras
import numpy as np
import pytest

from ct_keras import tasks
from ct_keras.models import CompositeTaskingNet, MultiHeadNet, MultiNet, SingleTaskNet
from tests.helpers import rotated_anchors

SIZE = 64
TINY = {"backbone": "resnet18", "image_size": SIZE}


def _inputs(batch=2, seed=0, num_tasks=5):
    rng = np.random.default_rng(seed)
    return {"image": rng.uniform(0, 255, (batch, SIZE, SIZE, 3)).astype("float32"),
            "palette": rng.integers(0, num_tasks, (batch, SIZE, SIZE)).astype("int32")}


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.fixture(scope="module")
def ctn():
    return CompositeTaskingNet(**TINY)


def test_ctn_shapes_and_config_round_trip(ctn):
    out = ctn(_inputs(), training=False)
    assert out.shape == (2, SIZE, SIZE, 3) and out.dtype == "float32"
    config = ctn.get_config()
    assert CompositeTaskingNet.from_config(config).get_config() == config


def test_ctn_graph_equals_eager(ctn):
    # docs/design.md §7: a fused oneDNN LeakyReLU once made graph mode silently wrong.
    x = _inputs(1, seed=1)
    np.testing.assert_allclose(ctn.predict(x, verbose=0), ctn(x, training=False).numpy(), atol=1e-4)


def test_keras_file_round_trip(ctn, tmp_path):
    path = str(tmp_path / "ctn.keras")
    ctn.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, CompositeTaskingNet)
    x = _inputs(1, seed=2)
    np.testing.assert_allclose(restored.predict(x, verbose=0), ctn.predict(x, verbose=0), atol=1e-6)
    stn = SingleTaskNet(task="edges", **TINY)
    stn.save(str(tmp_path / "stn.keras"))
    restored = keras.saving.load_model(str(tmp_path / "stn.keras"))
    assert restored.task == 2
    np.testing.assert_allclose(restored.predict(x["image"], verbose=0), stn.predict(x["image"], verbose=0),
                               atol=1e-6)


def test_anchors_are_part_of_every_models_config(ctn, tmp_path):
    assert ctn.anchors == tasks.paper_anchors()  # None → the paper's Tables 5, 6, recorded
    assert ctn.get_config()["anchors"] == tasks.paper_anchors()
    anchors = rotated_anchors()
    models = [CompositeTaskingNet(**TINY, anchors=anchors),
              SingleTaskNet(task="parts", **TINY, anchors=anchors),
              MultiHeadNet(**TINY, num_tasks=2, anchors=anchors),
              MultiNet(**TINY, num_tasks=2, anchors=anchors)]
    for model in models:
        config = model.get_config()
        assert config["anchors"] == anchors and json.loads(json.dumps(config)) == config
        assert type(model).from_config(config).anchors == anchors
        np.testing.assert_array_equal(model.anchor_matrix(tasks.PARTS), tasks.anchor_matrix(tasks.PARTS, anchors))
        assert not np.array_equal(model.anchor_matrix(tasks.SEMSEG), tasks.anchor_matrix(tasks.SEMSEG))
    model = models[0]
    copy = model.anchors
    copy["parts"]["head"] = [1, 1, 1]  # a copy: the model's own anchors cannot be changed by accident
    assert model.anchors == anchors
    model.save(str(tmp_path / "ctn.keras"))
    assert keras.saving.load_model(str(tmp_path / "ctn.keras")).anchors == anchors


@pytest.mark.parametrize("anchors, message", [
    ({"parts": {"background": [0, 0, 0]}}, r"parts anchors are missing for classes \['head'"),
    ({"semseg": {**tasks.SEMSEG_ANCHORS, "cat": (0, 0, 300)}}, r"semseg class 'cat'.*0..255"),
    ({"semseg": {**tasks.SEMSEG_ANCHORS, "cat": (0, 64)}}, r"semseg class 'cat': an anchor is 3 numbers"),
    ("paper", r"must be a dict"),
])
def test_bad_anchors_fail_before_the_model_is_built(anchors, message):
    for cls, kwargs in ((CompositeTaskingNet, {}), (SingleTaskNet, {"task": "semseg"}),
                        (MultiHeadNet, {}), (MultiNet, {})):
        with pytest.raises(ValueError, match=message):
            cls(**TINY, **kwargs, anchors=anchors)


def test_weights_file_round_trip(ctn, tmp_path):
    path = str(tmp_path / "ctn.weights.h5")
    ctn.save_weights(path)
    other = CompositeTaskingNet(**TINY)
    other.load_weights(path)
    x = _inputs(1, seed=3)
    np.testing.assert_allclose(other.predict(x, verbose=0), ctn.predict(x, verbose=0), atol=1e-6)


def test_one_training_step_updates_every_part():
    model = CompositeTaskingNet(**TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    parts = {name: model.get_layer(name) for name in
             ("encoder", "task_representation", "skip_5", "decoder_0", "head")}
    before = {name: [w.numpy().copy() for w in layer.trainable_weights] for name, layer in parts.items()}
    model.fit(_inputs(2, seed=4), np.zeros((2, SIZE, SIZE, 3), "float32"), epochs=1, verbose=0)
    for name, layer in parts.items():
        assert all(not np.array_equal(b, w.numpy())
                   for b, w in zip(before[name], layer.trainable_weights)), name


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(ctn, policy):
    keras.config.set_dtype_policy(policy)
    model = CompositeTaskingNet(**TINY)
    keras.config.set_dtype_policy("float32")
    model.set_weights(ctn.get_weights())
    x = _inputs(1, seed=5)
    out = model(x, training=False)
    assert out.dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)
    reference = ctn(x, training=False).numpy()
    scale = np.abs(reference).max()
    assert np.abs(out.numpy() - reference).max() < 0.05 * scale + 0.05


def test_bad_inputs_are_value_errors(ctn):
    x = _inputs(1)
    bad = dict(x, palette=np.full((1, SIZE, SIZE), 5, "int32"))
    with pytest.raises(ValueError, match=r"task ids in \[0, 5\) \(0 semseg, .*\)\. Received ids \[5\]"):
        ctn(bad)
    with pytest.raises(ValueError, match=r"task ids in \[0, 5\)"):
        ctn.predict(dict(x, palette=-np.ones((1, SIZE, SIZE), "int32")), verbose=0)
    with pytest.raises(ValueError, match=r"`image` must have shape \[batch, 64, 64, 3\].*\[1, 32, 32, 3\]"):
        ctn({"image": np.zeros((1, 32, 32, 3), "float32"), "palette": np.zeros((1, 32, 32), "int32")})
    with pytest.raises(ValueError, match=r"`palette` must have shape \[1, 64, 64\]"):
        ctn({"image": x["image"], "palette": np.zeros((1, 64), "int32")})
    with pytest.raises(ValueError, match="keys 'image' and 'palette'"):
        ctn(x["image"])
    with pytest.raises(ValueError, match=r"multiples of 32.*Received 100"):
        CompositeTaskingNet(backbone="resnet18", image_size=100)
    with pytest.raises(ValueError, match=r"`depth` must be one of.*Received 'resnet19'"):
        CompositeTaskingNet(backbone="resnet19", image_size=64)
    with pytest.raises(ValueError, match=r"`task` must be one of"):
        SingleTaskNet(task="depth", **TINY)


def test_rectangular_images():
    model = CompositeTaskingNet(backbone="resnet18", image_size=(64, 96))
    out = model({"image": np.zeros((1, 64, 96, 3), "float32"),
                 "palette": np.zeros((1, 64, 96), "int32")})
    assert out.shape == (1, 64, 96, 3)


def test_ablation_knobs():
    base = CompositeTaskingNet(**TINY)
    wide = CompositeTaskingNet(**TINY, output_channels=6, mlp_depth=3, embedding_dim=32,
                               num_shared_convs=2, decoder_kernel_size=1,
                               pyramid_interpolation="nearest")
    assert wide(_inputs(1)).shape == (1, SIZE, SIZE, 6)
    assert _count(wide.trainable_weights) < _count(base.trainable_weights)
    # Each MLP layer beyond the first is a 128×128 Linear.
    deeper = CompositeTaskingNet(**TINY, mlp_depth=7)
    assert _count(deeper.trainable_weights) - _count(base.trainable_weights) == 128 * 128 + 128


def test_baselines_compose_by_palette():
    x = _inputs(1, seed=6, num_tasks=2)
    mhn = MultiHeadNet(**TINY, num_tasks=2)
    out = mhn(x, training=False).numpy()
    heads = [keras.Model(mhn.inputs, mhn.get_layer(f"{t}_raw").output) for t in ("semseg", "parts")]
    per_task = [h(x, training=False).numpy() for h in heads]
    expected = np.where(x["palette"][..., None] == 0, per_task[0], per_task[1])
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert MultiHeadNet.from_config(mhn.get_config()).get_config() == mhn.get_config()

    mn = MultiNet(**TINY, num_tasks=2)
    stn = SingleTaskNet(task=0, **TINY)
    assert _count(mn.trainable_weights) == 2 * _count(stn.trainable_weights)
    assert mn(x).shape == (1, SIZE, SIZE, 3)


def test_head_bias_starts_the_output_near_the_background():
    from ct_keras.tasks import SEMSEG, decode

    net = CompositeTaskingNet(backbone="resnet18", image_size=64, embedding_dim=16, mlp_depth=2, head_bias=-3)
    np.testing.assert_array_equal(net.get_layer("head").bias.numpy(), [-3.0] * 3)
    assert CompositeTaskingNet.from_config(net.get_config()).get_config()["head_bias"] == -3
    default = CompositeTaskingNet(backbone="resnet18", image_size=64, embedding_dim=16, mlp_depth=2)
    assert np.all(default.get_layer("head").bias.numpy() == 0)
    inputs = {"image": np.full((1, 64, 64, 3), 128.0, "float32"), "palette": np.zeros((1, 64, 64), "int32")}
    # Untrained, the head's bias dominates: most pixels decode to the background class.
    assert np.mean(decode(net(inputs).numpy(), SEMSEG) == 0) > 0.5

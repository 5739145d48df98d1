"""The trainer, its optimizer and callbacks, on a tiny CTN (in-process)."""

import json
import os

import keras
import numpy as np
import pytest

from ct_keras.models import CompositeTaskingNet
from ct_keras.training.callbacks import (
    NetCheckpoint, NonFiniteLossError, ResumableBackup, ResumablePlateau, StopOnNonFiniteLoss,
)
from ct_keras.training.optimizer import MultiRateAdam
from ct_keras.training.schedules import learning_rate
from ct_keras.training.trainer import CompositeTaskingTrainer

SIZE = 64


def _batch(n=2, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {"image": rng.uniform(0, 255, (n, SIZE, SIZE, 3)).astype("float32"),
              "palette": rng.integers(0, 5, (n, SIZE, SIZE)).astype("int32")}
    targets = {
        "semseg": rng.integers(0, 21, (n, SIZE, SIZE)).astype("int32"),
        "parts": rng.integers(0, 7, (n, SIZE, SIZE)).astype("int32"),
        "edges": (rng.uniform(size=(n, SIZE, SIZE)) < 0.1).astype("float32"),
        "saliency": (rng.uniform(size=(n, SIZE, SIZE)) < 0.4).astype("float32"),
        "normals": rng.normal(size=(n, SIZE, SIZE, 3)).astype("float32"),
    }
    return inputs, targets


def _trainer(lr=1e-3, encoder_share=0.01, l2=0.0, run_eagerly=True):
    # Eager unless a test is about the graph: tracing costs more than these few steps.
    net = CompositeTaskingNet(backbone="resnet18", image_size=SIZE, embedding_dim=32)
    trainer = CompositeTaskingTrainer(net)
    trainer.compile(optimizer=MultiRateAdam(
        lr, rate_multipliers=[(net.encoder.trainable_variables, encoder_share)], l2=l2),
        run_eagerly=run_eagerly)
    return net, trainer


def test_train_step_lowers_the_loss_and_logs_every_task():
    net, trainer = _trainer(run_eagerly=False)
    inputs, targets = _batch()
    before = trainer.evaluate(inputs, targets, verbose=0, return_dict=True)
    history = trainer.fit(inputs, targets, epochs=8, batch_size=2, verbose=0, shuffle=False)
    after = trainer.evaluate(inputs, targets, verbose=0, return_dict=True)
    assert set(history.history) == {"loss", "semseg_loss", "parts_loss", "edges_loss",
                                    "saliency_loss", "normals_loss"}
    assert after["loss"] < 0.8 * before["loss"]


def test_encoder_steps_at_its_own_rate():
    net, trainer = _trainer(lr=1e-3, encoder_share=0.01)
    inputs, targets = _batch()
    enc = net.encoder.get_layer("conv1").kernel
    dec = net.get_layer("head").kernel
    enc0, dec0 = np.array(enc), np.array(dec)
    trainer.train_on_batch(inputs, targets)
    # Adam's first step moves each weight by ≈ lr (|m̂/√v̂| = 1).
    assert np.max(np.abs(np.array(enc) - enc0)) == pytest.approx(1e-5, rel=0.05)
    assert np.max(np.abs(np.array(dec) - dec0)) == pytest.approx(1e-3, rel=0.05)


def test_coupled_l2_pulls_weights_towards_zero():
    var = keras.Variable(np.full((3,), 2.0, "float32"))
    opt = MultiRateAdam(0.1, l2=0.5)
    opt.apply([keras.ops.zeros((3,))], [var])
    # The gradient is 0 + 0.5·w > 0: Adam steps down by ≈ lr.
    np.testing.assert_allclose(np.array(var), 1.9, atol=1e-4)


def _adam_steps(grads_per_step, **kwargs):
    var = keras.Variable(np.array([1.0, -2.0, 0.5], "float32"))
    opt = MultiRateAdam(0.1, **kwargs)
    for grads in grads_per_step:
        opt.apply([keras.ops.convert_to_tensor(np.array(grads, "float32"))], [var])
    return np.array(var)


def test_clip_grad_norm_scales_the_gradient_down_to_the_norm_before_adam():
    # Adam's first step ignores the gradient's scale; the second does not: a clipped
    # first gradient leaves a smaller second moment behind.
    steps = [[30.0, 40.0, 0.0], [0.3, -0.4, 1.0]]  # norms 50 and ~1.1
    clipped = _adam_steps(steps, clip_grad_norm=5.0, l2=0.01)
    by_hand = _adam_steps([[3.0, 4.0, 0.0], [0.3, -0.4, 1.0]], l2=0.01)  # L2 after clipping
    np.testing.assert_allclose(clipped, by_hand, rtol=1e-6)
    assert np.max(np.abs(clipped - _adam_steps(steps, l2=0.01))) > 1e-3
    with pytest.raises(ValueError, match="clip_grad_norm must be 0 .off. or positive, not -1"):
        MultiRateAdam(clip_grad_norm=-1)


_MIRRORED_CLIP = """
import numpy as np, tensorflow as tf
from ct_keras.training.distribution import split_cpu
split_cpu(2)
import keras
from ct_keras.training.optimizer import MultiRateAdam
shares = [np.array([[20., -5.], [1., 3.]], "float32"), np.array([[10., 5.], [2., -1.]], "float32")]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    var = keras.Variable(np.ones((2, 2), "float32"))
    opt = MultiRateAdam(0.1, clip_grad_norm=3.0)
    opt.build([var])
def step(scale):
    share = tf.constant(shares[0]) if tf.distribute.get_replica_context().replica_id_in_sync_group == 0 \
        else tf.constant(shares[1])
    opt.apply([share * scale], [var])
for scale in (1.0, 0.01):
    strategy.run(tf.function(step), args=(scale,))
one = keras.Variable(np.ones((2, 2), "float32"))
single = MultiRateAdam(0.1, clip_grad_norm=3.0)
for scale in (1.0, 0.01):
    single.apply([tf.constant((shares[0] + shares[1]) * scale)], [one])
print("DIFF", float(np.max(np.abs(np.array(var) - np.array(one)))))
"""


@pytest.mark.slow
def test_clip_grad_norm_under_two_replicas_clips_the_summed_gradient_as_one_device(tmp_path):
    import subprocess
    import sys
    script = tmp_path / "mirrored_clip.py"  # a file: AutoGraph reads the source of what it converts
    script.write_text(_MIRRORED_CLIP)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    diff = float(result.stdout.split("DIFF")[-1])
    assert diff < 1e-6  # Keras' global_clipnorm, which clips each replica's share, is 0.17 off


def test_multistep_schedule():
    schedule = learning_rate("multistep", 1e-3, steps_per_epoch=10, milestones=(2, 4), factor=0.3)
    assert [float(schedule(s)) for s in (0, 19, 20, 39, 40)] == pytest.approx(
        [1e-3, 1e-3, 3e-4, 3e-4, 9e-5])
    with pytest.raises(ValueError, match="schedule"):
        learning_rate("exponential", 1e-3, 10)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    schedule = learning_rate("cosine", 2e-3, steps_per_epoch=10, total_steps=100, warmup_steps=10)
    assert [float(schedule(s)) for s in (0, 5, 10, 55, 100)] == pytest.approx(
        [0.0, 1e-3, 2e-3, 1e-3, 0.0], abs=1e-9)
    assert float(learning_rate("cosine", 1e-3, 10, total_steps=50)(0)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="warmup_steps must be below the run.s 100 steps"):
        learning_rate("cosine", 1e-3, 10, total_steps=100, warmup_steps=100)


@pytest.mark.parametrize("flags, expected", [
    (["avx2", "avx512f", "avx512_bf16"], "mixed_bfloat16"), (["avx2", "amx_bf16"], "mixed_bfloat16"),
    (["avx2", "avx512f"], "float32"), ([], "float32")])
def test_auto_precision_follows_the_cpu(flags, expected):
    from ct_keras.training.run import resolve_precision

    assert resolve_precision("auto", cpu_flags=flags) == expected
    assert resolve_precision("mixed_float16", cpu_flags=flags) == "mixed_float16"


def test_auto_precision_follows_onednn_held_to_avx2(monkeypatch):
    from ct_keras.training.run import resolve_precision

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert resolve_precision("auto", cpu_flags=["avx512f", "avx512_bf16"]) == "float32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert resolve_precision("auto", cpu_flags=["avx512f", "avx512_bf16"]) == "mixed_bfloat16"


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_step_is_finite_and_close_to_float32(precision):
    inputs, targets = _batch()
    net, trainer = _trainer()
    weights = net.get_weights()
    reference = trainer.train_on_batch(inputs, targets, return_dict=True)
    keras.config.set_dtype_policy(precision)  # the autouse fixture sets float32 back
    net, trainer = _trainer()
    net.set_weights(weights)
    logs = trainer.train_on_batch(inputs, targets, return_dict=True)
    assert net.get_layer("raw").compute_dtype == "float32"
    assert net.get_layer("head").compute_dtype == precision.split("_")[1]
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")
    # The losses of the first step are those of the same weights, in half precision.
    assert sorted(logs) == sorted(reference)
    tolerance = 0.01 if precision == "mixed_float16" else 0.05
    for key, value in logs.items():
        assert np.isfinite(value), key
        assert value == pytest.approx(reference[key], rel=tolerance), key
    after = trainer.train_on_batch(inputs, targets, return_dict=True)
    assert np.isfinite(after["loss"]) and np.isfinite(net.get_layer("head").kernel.numpy()).all()


@pytest.mark.slow
def test_xla_training_and_validation_match_the_plain_graph():
    # `TrainConfig.jit_compile`: XLA compiles the train step; validation during `fit` runs
    # the odsF matcher (host code) outside XLA.
    from ct_keras.metrics import task_metrics

    inputs, targets = _batch()
    weights, trainers, results = None, {}, {}
    for jit_compile in (False, True):
        net = CompositeTaskingNet(backbone="resnet18", image_size=SIZE, embedding_dim=32)
        weights = weights or net.get_weights()
        net.set_weights(weights)
        trainer = CompositeTaskingTrainer(net, metrics=task_metrics(edge_thresholds=5))
        trainer.compile(optimizer=MultiRateAdam(1e-3), jit_compile=jit_compile)
        history = trainer.fit(inputs, targets, epochs=1, batch_size=2, verbose=0, shuffle=False,
                              validation_data=(inputs, targets))
        assert trainer.xla is jit_compile  # Keras' own jit_compile is off: the steps place XLA
        trainers[jit_compile], results[jit_compile] = trainer, {k: v[-1] for k, v in history.history.items()}
    plain, xla = results[False], results[True]
    assert sorted(xla) == sorted(plain) and "val_edges_odsf" in xla and "val_semseg_miou" in xla
    assert all(np.isfinite(v) for v in xla.values())
    for key in ("loss", "semseg_loss", "normals_loss"):  # the step's forward: the same weights
        assert xla[key] == pytest.approx(plain[key], rel=1e-4), key
    # After Adam's first step (≈ lr·sign(g): rounding can flip it where g ≈ 0) the nets are
    # close, not equal; with the same weights validation gives the same numbers.
    assert xla["val_loss"] == pytest.approx(plain["val_loss"], rel=0.02)
    trainers[True].net.set_weights(trainers[False].net.get_weights())
    plain, xla = (trainers[j].evaluate(inputs, targets, verbose=0, return_dict=True) for j in (False, True))
    for key in plain:
        tolerance = 0.5 if key == "edges_odsf" else 1e-3 * max(1.0, abs(plain[key]))
        assert np.isclose(xla[key], plain[key], atol=tolerance), (key, xla[key], plain[key])


def test_nan_loss_stops_naming_task_and_step(tmp_path):
    net, trainer = _trainer()
    inputs, targets = _batch()
    targets["normals"][0, 0, 0] = np.nan
    ckpt = NetCheckpoint(net, str(tmp_path))
    with pytest.raises(NonFiniteLossError, match=r"normals loss became nan at training step 1"):
        trainer.fit(inputs, targets, epochs=2, batch_size=2, verbose=0,
                    callbacks=[StopOnNonFiniteLoss(trainer.task_names), ckpt])
    assert not os.listdir(tmp_path)  # nothing was saved from the broken step


def test_checkpoints_keep_the_best_across_restarts(tmp_path):
    net, trainer = _trainer()
    ckpt = NetCheckpoint(net, str(tmp_path), monitor="val_loss")
    ckpt.set_model(trainer)
    ckpt.on_epoch_end(0, {"val_loss": 2.0})
    best = (tmp_path / "best.weights.h5").read_bytes()
    # A new callback (a resumed run) with a worse value keeps the old best.
    ckpt = NetCheckpoint(net, str(tmp_path), monitor="val_loss")
    net.get_layer("head").kernel.assign(np.zeros(net.get_layer("head").kernel.shape))
    ckpt.on_epoch_end(1, {"val_loss": 3.0})
    assert (tmp_path / "best.weights.h5").read_bytes() == best
    assert json.loads((tmp_path / "best.json").read_text())["epoch"] == 1
    ckpt.on_epoch_end(2, {"val_loss": 1.0})
    assert json.loads((tmp_path / "best.json").read_text()) == {
        "epoch": 3, "monitor": "val_loss", "value": 1.0}
    assert sorted(os.listdir(tmp_path)) == ["best.json", "best.weights.h5", "last.weights.h5"]


def test_backup_restores_weights_and_step(tmp_path):
    net, trainer = _trainer()
    inputs, targets = _batch()
    backup = ResumableBackup(str(tmp_path), save_freq=2)
    trainer.fit(inputs, targets, epochs=1, batch_size=1, verbose=0, callbacks=[backup])
    assert json.loads((tmp_path / "training_metadata.json").read_text()) == {"step": 2}
    kernel = np.array(net.get_layer("head").kernel)

    net2, trainer2 = _trainer()
    trainer2(inputs)
    assert backup.restore(trainer2)
    assert int(trainer2.optimizer.iterations.numpy()) == 2
    np.testing.assert_array_equal(np.array(net2.get_layer("head").kernel), kernel)
    assert not ResumableBackup(str(tmp_path / "none")).restore(trainer2)


def test_backup_counts_the_steps_taken_not_the_optimizer_updates(tmp_path):
    # Loss scaling drops steps with overflowing gradients without counting them, yet the
    # data stream moved on: the resume point is the count of batches trained.
    keras.config.set_dtype_policy("mixed_float16")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(), initial_scale=1e30),
                  loss="mse")
    backup = ResumableBackup(str(tmp_path), save_freq=1)
    model.fit(np.ones((3, 2)), np.ones((3, 1)), batch_size=1, epochs=2, callbacks=[backup], verbose=0)
    assert int(model.optimizer.iterations.numpy()) < 6
    assert json.loads((tmp_path / "training_metadata.json").read_text()) == {"step": 6}
    again = ResumableBackup(str(tmp_path))
    assert again.restore(model) and again.step == 6


def test_plateau_counters_survive_a_new_fit_and_a_restart(tmp_path):
    def model():
        m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        m.compile(optimizer=keras.optimizers.Adam(1.0), loss="mse")
        m.optimizer.build(m.trainable_variables)
        return m

    first = model()
    plateau = ResumablePlateau(monitor="val_loss", patience=2, factor=0.5)
    backup = ResumableBackup(str(tmp_path), stateful=[plateau])
    for callback in (plateau, backup):
        callback.set_model(first)
    plateau.on_train_begin()
    plateau.on_epoch_end(0, {"val_loss": 1.0})
    plateau.on_epoch_end(1, {"val_loss": 2.0})  # one epoch without improvement
    plateau.on_train_begin()  # a second `fit` in the same process: Keras' own would reset here
    assert plateau.get_state() == {"best": 1.0, "wait": 1, "cooldown_counter": 0}
    backup.save()

    second = model()
    resumed = ResumablePlateau(monitor="val_loss", patience=2, factor=0.5)
    assert ResumableBackup(str(tmp_path), stateful=[resumed]).restore(second)
    resumed.set_model(second)
    resumed.on_train_begin()
    resumed.on_epoch_end(2, {"val_loss": 2.0})  # the second such epoch: patience is spent
    assert float(second.optimizer.learning_rate) == pytest.approx(0.5)
    assert resumed.get_state()["wait"] == 0


def test_init_weights_of_another_model_is_a_clear_error(tmp_path):
    from ct_keras.training.initial_weights import load_init_weights

    path = str(tmp_path / "other.weights.h5")
    CompositeTaskingNet(backbone="resnet18", image_size=SIZE, embedding_dim=16).save_weights(path)
    net = CompositeTaskingNet(backbone="resnet18", image_size=SIZE, embedding_dim=32)
    with pytest.raises(ValueError, match="--init_weights: .*other.weights.h5 does not fit"):
        load_init_weights(net, path)


def test_a_single_task_net_learns_and_is_scored_on_its_palette_region_only():
    """An STN trained under R1r or R2 sees its task's labels where the palette asks for it."""
    from ct_keras.losses import CompositeLoss
    from ct_keras.models import SingleTaskNet
    from ct_keras.tasks import NORMALS

    net = SingleTaskNet(task="normals", backbone="resnet18", image_size=SIZE)
    trainer = CompositeTaskingTrainer(net)
    trainer.compile(run_eagerly=True)
    inputs, targets = _batch()
    raw = np.asarray(net(inputs["image"]))
    # Normals the net already predicts inside the palette's normals region, random ones
    # outside: the loss over the region (≈ 0) and over every pixel differ by far, whatever
    # the initial weights (a random net's two losses can differ by round-off only).
    in_region = (inputs["palette"] == NORMALS)[..., None]
    predicted = raw / np.linalg.norm(raw, axis=-1, keepdims=True)
    targets["normals"] = np.where(in_region, predicted, targets["normals"]).astype("float32")
    loss = CompositeLoss(tasks=[NORMALS])
    region = loss.task_loss(NORMALS, raw, targets["normals"], inputs["palette"] == NORMALS)
    everywhere = loss.task_loss(NORMALS, raw, targets["normals"])
    assert float(region) < 1e-3 < 0.5 < float(everywhere)  # the region matters for this batch
    logs = trainer.test_step((inputs, targets))
    np.testing.assert_allclose(float(logs["normals_loss"]), float(region), rtol=1e-5)
    trainer.reset_metrics()
    logs = trainer.test_step(({"image": inputs["image"]}, targets))  # no palette: every pixel
    np.testing.assert_allclose(float(logs["normals_loss"]), float(everywhere), rtol=1e-5)


def test_the_training_rule_defaults_to_the_models_usual_one():
    from ct_keras.training.run import TrainConfig

    assert TrainConfig("m", "d", model="stn", task="parts").training_rule == "s"
    assert TrainConfig("m", "d", model="stn", task="parts", rule="r2").training_rule == "r2"
    assert TrainConfig("m", "d").training_rule == "r1r"
    with pytest.raises(ValueError, match="--rule: must be one of"):
        TrainConfig("m", "d", rule="r9").check()


def test_trainer_and_pictures_use_the_nets_anchors(tmp_path):
    import tensorflow as tf

    from ct_keras import tasks
    from ct_keras.losses import CompositeLoss, anchor_focal_loss
    from ct_keras.metrics import task_metrics
    from ct_keras.training.pictures import CompositePictures, composite_picture

    # Another set of colours (a permutation of the paper's would draw the same picture).
    anchors = {task: {n: [min(255, v + 40) for v in a] for n, a in table.items()}
               for task, table in tasks.paper_anchors().items()}
    net = CompositeTaskingNet(backbone="resnet18", image_size=SIZE, embedding_dim=32, anchors=anchors)
    with pytest.raises(ValueError, match="loss's class anchors differ from the net's"):
        CompositeTaskingTrainer(net, loss=CompositeLoss())
    trainer = CompositeTaskingTrainer(net, metrics=task_metrics([tasks.SEMSEG]))
    trainer.compile(run_eagerly=True)
    inputs, targets = _batch()
    logs = trainer.evaluate(inputs, targets, batch_size=2, verbose=0, return_dict=True)
    raw = net(inputs, training=False).numpy()
    region = inputs["palette"] == tasks.SEMSEG
    explicit = float(anchor_focal_loss(raw, targets["semseg"], tasks.anchor_matrix(0, anchors), region))
    np.testing.assert_allclose(logs["semseg_loss"], explicit, rtol=1e-5)
    (miou,) = task_metrics([tasks.SEMSEG])
    miou.update_state(targets["semseg"], tasks.decode(raw, 0, anchors), sample_weight=region.astype("float32"))
    np.testing.assert_allclose(logs["semseg_miou"], float(miou.result()["semseg_miou"]), atol=1e-4)

    # The TensorBoard picture is drawn with the net's anchors.
    callback = CompositePictures(inputs, str(tmp_path), max_images=1)
    callback.set_model(trainer)
    callback.on_epoch_end(0)
    (event,) = [e for f in os.listdir(tmp_path / "pictures")
                for e in tf.compat.v1.train.summary_iterator(str(tmp_path / "pictures" / f))
                if e.summary.value]
    picture = tf.io.decode_png(tf.make_ndarray(event.summary.value[0].tensor)[2]).numpy()
    one = {k: v[:1] for k, v in inputs.items()}
    raw = net.predict_on_batch(one)
    np.testing.assert_array_equal(picture, composite_picture(one["image"], one["palette"], raw, anchors)[0])
    assert not np.array_equal(picture, composite_picture(one["image"], one["palette"], raw, None)[0])


def test_plateau_follows_keras_reduce_lr_on_plateau_epoch_by_epoch():
    """Our plateau schedule (public APIs only) makes the decisions of Keras' own."""
    def run(callback):
        m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        m.compile(optimizer=keras.optimizers.Adam(1.0), loss="mse")
        callback.set_model(m)
        callback.on_train_begin()
        rates = []
        for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.95, 0.97, 0.8, 0.85, 0.85, 0.85, 0.85, 0.79995, 0.9]):
            callback.on_epoch_end(epoch, {"val_loss": loss})
            rates.append(float(m.optimizer.learning_rate))
        return rates

    settings = dict(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.2, min_delta=1e-4)
    ours = run(ResumablePlateau(**settings))
    assert ours == run(keras.callbacks.ReduceLROnPlateau(mode="min", **settings))
    assert len(set(ours)) == 4 and ours[0] == 1.0 and ours[-1] == pytest.approx(0.2)  # reduced thrice, to min_lr

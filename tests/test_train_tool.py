"""tools/train.py end to end: bad flags fail first, a SIGKILLed run resumes exactly."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "tools", "train.py")
TINY = ["--backbone=resnet18", "--image_size=64", "--batch_size=2", "--model_options=embedding_dim=32",
        "--edge_thresholds=3", "--verbose=2", "--log_pictures=false"]


def _run(args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, TRAIN, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, **kwargs)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from ct_keras.data import generate_pascal_mt

    path = str(tmp_path_factory.mktemp("data") / "syn")
    generate_pascal_mt(path, 8, 2, seed=0, size=64)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--epoch=3"], "Unknown command line flag 'epoch'"),
    (["--flagfile=configs/nope.cfg"], "configs/nope.cfg"),
    (["--rule=r9"], "--rule: must be one of"),
    (["--rule=rrnd+r9"], "or several joined by + (each example draws one: rrnd+s), not 'rrnd+r9'"),
    (["--data_dir=NOT_PASCAL"], "NOT_PASCAL"),
    (["--model=stn"], "--task"),
    (["--loss_weights=depth=2"], "--loss_weights"),
    (["--synthetic=20,4"], "holds 8 train and 2 val images, not the 20,4"),
    (["--synthetic=8,2", "--synthetic_variant=easy"], "holds the 'voc' variant, not 'easy'"),
    (["--synthetic=8,2", "--synthetic_variant=hard"], "--synthetic_variant: must be one of ['easy', 'voc']"),
    (["--synthetic_variant=easy"], "--synthetic_variant: only applies with --synthetic"),
    (["--deterministic", "--jit_compile"], "--jit_compile: cannot be combined with --deterministic"),
    (["--anchors=no_such_anchors.json"], "--anchors: Anchors file no_such_anchors.json does not exist"),
    (["--model=palette", "--validation_metrics"], "--validation_metrics: the palette network"),
    (["--clip_grad_norm=-1"], "--clip_grad_norm: must be >= 0, not -1.0"),
    (["--warmup_steps=5"], "--warmup_steps: only applies with --schedule=cosine, not 'multistep'"),
    (["--schedule=cosine", "--warmup_steps=40", "--epochs=2", "--steps_per_epoch=10"],
     "--warmup_steps: must be below the run's 20 steps"),
])
def test_bad_flags_fail_before_any_work(tmp_path, data_dir, args, message):
    model_dir = tmp_path / "run"
    if args == ["--data_dir=NOT_PASCAL"]:
        os.makedirs(tmp_path / "NOT_PASCAL")
        args = [f"--data_dir={tmp_path / 'NOT_PASCAL'}"]
    result = _run([f"--data_dir={data_dir}", f"--model_dir={model_dir}", *TINY, *args])
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not model_dir.exists()


RESUMABLE = [*TINY, "--image_size=32", "--epochs=2", "--steps_per_epoch=6", "--backup_every=2",
             "--validation_steps=1", "--deterministic"]


def _weights(path):
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: out.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return out


def _assert_same_weights(a, b, atol=1e-5):
    wa, wb = _weights(a), _weights(b)
    assert sorted(wa) == sorted(wb) and len(wa) > 50
    worst = max(float(np.max(np.abs(wa[k] - wb[k]), initial=0.0)) for k in wa)
    assert worst <= atol, f"{a} and {b} differ by up to {worst}"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    """The run left alone: its model_dir."""
    model_dir = tmp_path_factory.mktemp("whole") / "run"
    result = _run([f"--data_dir={data_dir}", f"--model_dir={model_dir}", *RESUMABLE])
    assert result.returncode == 0, result.stderr[-2000:]
    return model_dir


@pytest.mark.slow
def test_two_runs_with_the_same_flags_end_with_the_same_weights(tmp_path, data_dir, uninterrupted):
    model_dir = tmp_path / "again"
    result = _run([f"--data_dir={data_dir}", f"--model_dir={model_dir}", *RESUMABLE])
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("last", "best"):
        _assert_same_weights(uninterrupted / "checkpoints" / f"{name}.weights.h5",
                             model_dir / "checkpoints" / f"{name}.weights.h5")


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_weights_of_the_run_left_alone(tmp_path, data_dir, uninterrupted):
    model_dir = tmp_path / "run"
    args = [f"--data_dir={data_dir}", f"--model_dir={model_dir}", *RESUMABLE]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, TRAIN, *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = model_dir / "backup" / "training_metadata.json"
    deadline = time.time() + 300
    try:
        while time.time() < deadline:  # kill as soon as epoch 2 is under way
            if meta.exists() and json.loads(meta.read_text())["step"] >= 8:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no mid-epoch backup within 300 s")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_at = json.loads(meta.read_text())["step"]
    assert 6 < killed_at < 12 and killed_at % 6, "killed mid-epoch 2"
    assert (model_dir / "checkpoints" / "last.weights.h5").exists()  # epoch 1's checkpoint
    assert not (model_dir / "metrics.json").exists()

    result = _run(args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Resuming from {model_dir / 'backup'} at step {killed_at}" in result.stdout
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["steps"] == 12
    assert not (model_dir / "backup").exists()
    # What the model saw after the restart is what it would have seen: the same weights,
    # the same best epoch, the same final numbers.
    for name in ("last", "best"):
        _assert_same_weights(uninterrupted / "checkpoints" / f"{name}.weights.h5",
                             model_dir / "checkpoints" / f"{name}.weights.h5")
    alone = json.loads((uninterrupted / "metrics.json").read_text())
    assert sorted(metrics) == sorted(alone)
    for key in ("semseg_miou", "parts_miou", "edges_odsf", "saliency_maxiou", "normals_mean_angle"):
        assert np.isclose(metrics[key], alone[key], atol=1e-4), key
    flags_txt = (model_dir / "flags.txt").read_text()
    assert "--epochs=2" in flags_txt and "--deterministic=true" in flags_txt


@pytest.mark.slow
@pytest.mark.parametrize("image_id", ["2008_000003", "2010_000001"])  # train (8 images, all seen), val
def test_a_corrupt_image_ends_training_in_one_line(data_dir, tmp_path, image_id):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(data_dir, bad)
    (bad / "JPEGImages" / f"{image_id}.jpg").write_text("junk")
    start = time.monotonic()
    result = _run([f"--data_dir={bad}", f"--model_dir={tmp_path / 'run'}", "--epochs=1", "--steps_per_epoch=4",
                   *TINY], timeout=300)
    assert result.returncode == 1
    assert time.monotonic() - start < 240
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"error: bad sample: Cannot decode image: {bad / 'JPEGImages' / f'{image_id}.jpg'}"
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_skip_bad_samples_finishes_and_lists_the_file(data_dir, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(data_dir, bad)
    broken = bad / "JPEGImages" / "2008_000003.jpg"
    broken.write_text("junk")
    run = tmp_path / "run"
    result = _run([f"--data_dir={bad}", f"--model_dir={run}", "--epochs=1", "--steps_per_epoch=4",
                   "--skip_bad_samples", *TINY], timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (run / "metrics.json").is_file()
    log = (run / "skipped_samples.log").read_text()
    assert f"Cannot decode image: {broken}" in log

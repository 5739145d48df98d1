"""Faults a real data set and a real machine bring, met by every tool the same way: one line
naming the file, a non-zero exit, nothing finished lost (see docs/faults.md). Training's own
cases are in test_train_tool.py."""

import errno
import importlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")


def _tool(name, *args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(TOOLS, name), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


def _cli():
    sys.path.insert(0, TOOLS)
    try:
        return importlib.import_module("_cli")
    finally:
        sys.path.remove(TOOLS)


def _timed(name, *args):
    """`_tool`, and how long it took."""
    start = time.monotonic()
    result = _tool(name, *args)
    return result, time.monotonic() - start


def _assert_one_line(result, expected):
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == expected, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from ct_keras.data import generate_pascal_mt

    path = str(tmp_path_factory.mktemp("data") / "syn")
    generate_pascal_mt(path, 4, 3, seed=0, size=64, variant="easy")  # the smoke scale's (the demo's)
    return path


@pytest.fixture()
def bad_copy(data_dir, tmp_path):
    """A copy of the set whose second val image is not a JPEG; `(folder, broken file)`."""
    bad = tmp_path / "bad"
    shutil.copytree(data_dir, bad)
    with open(bad / "ImageSets" / "Context" / "val.txt") as f:
        image_id = f.read().split()[1]
    broken = bad / "JPEGImages" / f"{image_id}.jpg"
    broken.write_text("junk")
    return bad, broken


class _FailingLayer:
    """Writes half a file, then reports a full disk, as h5py does."""

    def save_weights(self, path, overwrite=True):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "Can't synchronously write data (file write failed: errno = 28)")


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path):
    from ct_keras.training.callbacks import _save_weights_atomically

    import keras
    import numpy as np

    def model():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    saved = model()
    path = tmp_path / "last.weights.h5"
    _save_weights_atomically(saved, str(path))
    with pytest.raises(OSError, match=r"Cannot write .*last.weights.h5 \(No space left on device\); "
                                      r"the previous one is kept") as raised:
        _save_weights_atomically(_FailingLayer(), str(path))
    assert raised.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == ["last.weights.h5"]  # no temporary file left behind
    loaded = model()
    loaded.load_weights(str(path))  # the previous checkpoint, whole
    for a, b in zip(loaded.weights, saved.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    fresh = tmp_path / "new" / "best.weights.h5"
    with pytest.raises(OSError, match="nothing was written"):
        _save_weights_atomically(_FailingLayer(), str(fresh))
    assert os.listdir(fresh.parent) == []


def test_a_full_disk_is_a_user_error_and_a_bug_is_not():
    cli = _cli()
    full = OSError(errno.ENOSPC, "Cannot write runs/x/backup/latest.weights.h5 (No space left on device); "
                                 "the previous one is kept")
    assert cli._user_error(full) == ("Cannot write runs/x/backup/latest.weights.h5 (No space left on device); "
                                     "the previous one is kept")
    assert cli._user_error(PermissionError(errno.EACCES, "Permission denied", "/data/out")) == (
        "[Errno 13] Permission denied: '/data/out'")
    assert cli._user_error(OSError(errno.EBADF, "Bad file descriptor")) is None  # ours: keeps its traceback
    assert cli._user_error(KeyError("x")) is None


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder as tools/train.py leaves it (model.json, best checkpoint)."""
    from ct_keras.models import save_model_description
    from tests.deploy_helpers import tiny_ctn

    folder = tmp_path_factory.mktemp("run")
    model = tiny_ctn(seed=3)
    save_model_description(model, str(folder))
    (folder / "checkpoints").mkdir()
    model.save_weights(str(folder / "checkpoints" / "best.weights.h5"))
    return folder


@pytest.mark.slow
def test_evaluate_stops_on_a_bad_sample_or_skips_it(run_folder, bad_copy, tmp_path):
    bad, broken = bad_copy
    output = tmp_path / "eval" / "metrics.json"
    args = [f"--model_dir={run_folder}", f"--data_dir={bad}", "--edge_thresholds=3", "--batch_size=1",
            f"--output={output}"]
    result, seconds = _timed("evaluate.py", *args)
    _assert_one_line(result, f"error: bad sample: Cannot decode image: {broken}")
    assert seconds < 120 and not output.exists()  # start-up included; measured about 15 s

    result = _tool("evaluate.py", *args, "--skip_bad_samples")
    assert result.returncode == 0, result.stderr[-2000:]
    log = tmp_path / "eval" / "skipped_samples.log"
    assert f"Skipped 1 unreadable sample(s): listed in {log}" in result.stdout
    assert f"Cannot decode image: {broken}" in log.read_text()
    metrics = json.loads(output.read_text())
    assert metrics["skipped_samples"] == 1 and 0 <= metrics["semseg_miou"] <= 100


@pytest.mark.slow
def test_build_tfrecords_stops_on_a_bad_sample_keeping_finished_splits(bad_copy, tmp_path):
    bad, broken = bad_copy
    out = tmp_path / "tfr"
    args = [f"--data_dir={bad}", f"--out={out}", "--image_size=32"]
    result, seconds = _timed("build_tfrecords.py", *args)
    _assert_one_line(result, f"error: Cannot decode image: {broken}")
    assert seconds < 120
    train_shards = sorted(p.name for p in out.iterdir() if p.name.startswith("train"))
    assert train_shards and not [p for p in out.iterdir() if p.name.startswith("val")]
    stamps = {p: os.path.getmtime(out / p) for p in train_shards}

    result = _tool("build_tfrecords.py", *args, "--skip_bad_samples")  # resumes: train is kept
    assert result.returncode == 0, result.stderr[-2000:]
    assert {p: os.path.getmtime(out / p) for p in train_shards} == stamps
    meta = json.loads((out / "ct_keras_tfrecords.json").read_text())
    assert meta["splits"]["val"]["num_skipped"] == 1 and meta["splits"]["train"]["num_skipped"] == 0


@pytest.mark.slow
def test_build_tfrecords_stops_on_a_bad_train_sample_leaving_no_half_shard(data_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(data_dir, bad)
    with open(bad / "ImageSets" / "Context" / "train.txt") as f:
        broken = bad / "JPEGImages" / f"{f.read().split()[2]}.jpg"
    broken.write_text("junk")
    out = tmp_path / "tfr"
    result, seconds = _timed("build_tfrecords.py", f"--data_dir={bad}", f"--out={out}", "--image_size=32")
    _assert_one_line(result, f"error: Cannot decode image: {broken}")
    assert seconds < 120
    assert [p.name for p in out.iterdir()] == ["ct_keras_tfrecords.json"]  # no shard, no temporary file
    assert json.loads((out / "ct_keras_tfrecords.json").read_text())["splits"]["train"] == {"complete": False}


@pytest.mark.slow
def test_reproduce_reports_the_failed_run_and_stops(data_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    for jpeg in (data / "JPEGImages").iterdir():
        jpeg.write_text("junk")
    out = tmp_path / "out"
    tiny = ("--epochs=1", "--steps_per_epoch=2", "--validation_steps=1", "--batch_size=2", "--image_size=32",
            "--edge_thresholds=3", "--synthetic=4,3")
    start = time.monotonic()
    result = _tool("reproduce.py", "--table=4", "--scale=smoke", f"--out={out}", f"--data_dir={data}",
                   *[f"--train_flags={f}" for f in tiny])
    assert time.monotonic() - start < 300
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    log = out / "logs" / "train_ctn_r1r.log"
    assert f"error: train ctn_r1r failed (exit code 1); the end of {log}:" in result.stderr
    assert "error: bad sample: Cannot decode image: " in result.stderr
    assert "Traceback" not in result.stderr
    assert not (out / "logs" / "train_ctn_rrnd.log").exists()  # stopped: nothing after the failure ran
    assert not (out / "table4.json").exists()


@pytest.mark.parametrize("message, expected", [
    # Seen when the peer exits mid-step, and when it exits before its first heartbeat.
    ("Collective ops is aborted by: Socket closed\nAdditional GRPC error information from remote target "
     "/job:worker/replica:0/task:1 while calling /tensorflow.WorkerService/RecvBuf:",
     "worker 1 of the cluster stopped (Socket closed)"),
    ("Collective ops is aborted by: Error reported from /job:worker/task:2: The following tasks are unhealthy "
     "(stopped sending heartbeats):\n/job:worker/replica:0/task:2",
     "worker 2 of the cluster stopped (it stopped sending heartbeats)"),
])
def test_a_stopped_peer_is_named_in_one_line(message, expected):
    import tensorflow as tf

    error = tf.errors.UnavailableError(None, None, "Graph execution error:\n\nDetected at node ...\n" + message)
    assert _cli()._user_error(error) == f"{expected}; its own output or exit status says why. This worker stops too"


@pytest.mark.slow
def test_an_export_killed_while_writing_leaves_no_version_tf_serving_would_load(run_folder, tmp_path):
    import signal

    export_dir = tmp_path / "exported"
    args = [sys.executable, os.path.join(TOOLS, "export.py"), f"--model_dir={run_folder}",
            f"--export_dir={export_dir}", "--noverify"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (export_dir.is_dir() and [p for p in export_dir.iterdir() if p.name.startswith(".tmp-1-")]):
        assert first.poll() is None and time.monotonic() < deadline, "the export ended before it was killed"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not [p for p in export_dir.iterdir() if p.name.isdigit()]  # only the hidden, ignored folder

    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [p.name for p in export_dir.iterdir() if p.name.isdigit()] == ["1"]
    assert (export_dir / "1" / "saved_model.pb").is_file()

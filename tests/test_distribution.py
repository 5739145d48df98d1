"""tf.distribute training: mirrored on two logical CPUs and two multi-worker processes on
127.0.0.1 train what one device trains with the same global batch; only the chief writes."""

import glob
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from ct_keras.training import chief

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "tools", "train.py")
TINY = ["--backbone=resnet18", "--image_size=64", "--batch_size=2", "--model_options=embedding_dim=32",
        "--edge_thresholds=3", "--verbose=2", "--log_pictures=false", "--epochs=2", "--steps_per_epoch=1"]
# Measured (float sums in another order; Adam's first steps magnify the tiny gradient
# differences): training losses step 1 within 3e-7, step 2 within 6e-4 relative; validation
# losses after those steps within 3.3e-3.
RTOL = {"train": 2e-3, "validation": 1e-2}
TIMEOUT = 540


def _env(**extra):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, **extra)


def _train(args, **extra_env):
    result = subprocess.run([sys.executable, TRAIN, *args], capture_output=True, text=True, cwd=ROOT,
                            env=_env(**extra_env), timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _scalars(model_dir, split, tag="epoch_loss"):
    """Per-epoch values of `tag` from the run's TensorBoard logs (one step per epoch here)."""
    import tensorflow as tf

    values = {}
    for path in glob.glob(os.path.join(model_dir, "logs", split, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return [values[k] for k in sorted(values)]


def _assert_same_curves(run, baseline):
    import numpy as np

    for split in ("train", "validation"):
        for tag in ("epoch_loss", "epoch_saliency_loss", "epoch_normals_loss"):
            got, want = _scalars(run, split, tag), _scalars(baseline, split, tag)
            assert len(got) == len(want) == 2, (split, tag, got, want)
            np.testing.assert_allclose(got, want, rtol=RTOL[split], atol=1e-6, err_msg=f"{split} {tag}")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from ct_keras.data import generate_pascal_mt

    path = str(tmp_path_factory.mktemp("data") / "syn")
    generate_pascal_mt(path, 8, 4, seed=0, size=64)  # two whole validation batches
    return path


@pytest.fixture(scope="module")
def init_weights(tmp_path_factory):
    """The same starting weights for every run (weights are not seeded by --seed)."""
    from ct_keras.models import build_model

    path = str(tmp_path_factory.mktemp("init") / "init.weights.h5")
    build_model("ctn", backbone="resnet18", image_size=64, embedding_dim=32).save_weights(path)
    return path


@pytest.fixture(scope="module")
def one_device(tmp_path_factory, data_dir, init_weights):
    model_dir = str(tmp_path_factory.mktemp("one") / "run")
    _train([f"--data_dir={data_dir}", f"--model_dir={model_dir}", f"--init_weights={init_weights}", *TINY])
    return model_dir


def test_chief_is_the_chief_task_or_worker_zero():
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}

    def config(kind, index, **more):
        return json.dumps({"cluster": {**cluster, **more}, "task": {"type": kind, "index": index}})

    assert chief.is_chief("multi_worker_mirrored", config("worker", 0))
    assert not chief.is_chief("multi_worker_mirrored", config("worker", 1))
    with_chief = config("worker", 0, chief=["127.0.0.1:3"])
    assert not chief.is_chief("multi_worker_mirrored", with_chief)
    assert chief.is_chief("multi_worker_mirrored", json.dumps(
        {"cluster": {**cluster, "chief": ["127.0.0.1:3"]}, "task": {"type": "chief", "index": 0}}))
    assert chief.is_chief("multi_worker_mirrored", "")  # no TF_CONFIG: one worker
    assert chief.is_chief("mirrored", config("worker", 1))  # TF_CONFIG only matters multi-worker
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON"):
        chief.is_chief("multi_worker_mirrored", "{not json")
    with pytest.raises(ValueError, match="task 'worker' 2 is not in its cluster"):
        chief.is_chief("multi_worker_mirrored", config("worker", 2))


def test_a_worker_writes_a_temporary_folder_it_removes(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}))
    model_dir = str(tmp_path / "run")
    out = chief.output_dir(model_dir, "multi_worker_mirrored")
    assert out != model_dir and os.path.isdir(out) and "worker1" in os.path.basename(out)
    chief.remove_output_dir(out, model_dir)
    assert not os.path.exists(out)
    assert chief.output_dir(model_dir, "mirrored") == model_dir
    chief.remove_output_dir(model_dir, model_dir)  # never removes the model folder


@pytest.mark.slow
def test_mirrored_on_two_cpus_trains_like_one_device(tmp_path, data_dir, init_weights, one_device):
    model_dir = str(tmp_path / "run")
    result = _train([f"--data_dir={data_dir}", f"--model_dir={model_dir}", f"--init_weights={init_weights}",
                     *TINY, "--distribution_strategy=mirrored", "--cpu_devices=2"])
    assert "device:CPU:1" in result.stderr  # MirroredStrategy's device list: two replicas
    _assert_same_curves(model_dir, one_device)
    metrics = json.loads(open(os.path.join(model_dir, "metrics.json")).read())
    assert metrics["steps"] == 2


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(procs, cluster, args_of, stdout=subprocess.PIPE, **env):
    """Starts worker 1 then worker 0 (the chief) of `cluster`, each running `args_of(index)`,
    appending each to `procs` as it starts (so that the caller's cleanup sees every one)."""
    for index in (1, 0):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(args_of(index), cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True,
                                      env=_env(TF_CONFIG=tf_config, **env)))


@pytest.mark.slow
def test_two_worker_processes_train_like_one_device_and_only_the_chief_writes(
        tmp_path, data_dir, init_weights, one_device):
    model_dir = str(tmp_path / "run")
    worker_tmp = tmp_path / "worker_tmp"
    worker_tmp.mkdir()
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    args = [sys.executable, TRAIN, f"--data_dir={data_dir}", f"--model_dir={model_dir}",
            f"--init_weights={init_weights}", *TINY, "--distribution_strategy=multi_worker_mirrored"]
    procs = []
    try:
        _start_workers(procs, cluster, lambda index: args, TMPDIR=str(worker_tmp))
        outputs = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:  # a failed or hung worker must not outlive the test
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    worker_out, chief_out = outputs[0][0], outputs[1][0]

    assert "Wrote" in chief_out and "a worker" in worker_out
    written = re.search(r"This worker writes to (\S+) \(removed", worker_out).group(1)
    assert written.startswith(str(worker_tmp)) and not os.path.exists(written)
    assert not glob.glob(str(worker_tmp / "ct_keras_*"))
    for name in ("checkpoints/best.weights.h5", "checkpoints/last.weights.h5", "logs/train",
                 "metrics.json", "model.json", "flags.txt"):
        assert os.path.exists(os.path.join(model_dir, name)), name
    assert not os.path.exists(os.path.join(model_dir, "backup"))  # removed by the finished chief
    _assert_same_curves(model_dir, one_device)


def _parse_train_flags(argv):
    """`tools/train.py`'s flag parsing and `TrainConfig.check()`, in a fresh process."""
    code = ("import sys; sys.path.insert(0, 'tools'); import train; "
            f"train.FLAGS({[TRAIN, *argv]!r}); c = train.config_from_flags(); c.check(); "
            "print(c.backbone, c.image_size, c.batch_size, c.rule, c.precision, c.distribution_strategy)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=_env(), timeout=TIMEOUT)


@pytest.mark.slow
def test_the_papers_gpu_recipe_command_parses_and_checks(tmp_path, data_dir):
    result = _parse_train_flags(["--flagfile=configs/r2.cfg", "--precision=mixed_float16",
                                 "--distribution_strategy=mirrored", f"--data_dir={data_dir}",
                                 f"--model_dir={tmp_path / 'r2'}"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-6:] == ["resnet34", "256", "10", "r2", "mixed_float16", "mirrored"]


@pytest.mark.slow
def test_the_papers_gpu_recipe_runs_a_step_mirrored_on_two_cpus(tmp_path, data_dir):
    model_dir = tmp_path / "r2"
    _train(["--flagfile=configs/r2.cfg", "--precision=mixed_float16", "--distribution_strategy=mirrored",
            "--cpu_devices=2", f"--data_dir={data_dir}", f"--model_dir={model_dir}", *TINY, "--epochs=1",
            "--validation_steps=1"])
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["steps"] in (0, 1)  # loss scaling skips a step whose float16 gradients overflow
    assert "--precision=mixed_float16" in (model_dir / "flags.txt").read_text()
    import math

    losses = _scalars(str(model_dir), "train")
    assert len(losses) == 1 and math.isfinite(losses[0])


@pytest.mark.slow
def test_a_bad_sample_on_one_worker_stops_every_worker_in_one_line(tmp_path, data_dir):
    """A worker that cannot read its data exits naming the file; the other is not left
    waiting in a collective op: it exits at once naming that worker."""
    import shutil

    bad = tmp_path / "bad"  # worker 1's copy of the set (on its own disk, say) is broken
    shutil.copytree(data_dir, bad)
    for jpeg in (bad / "JPEGImages").iterdir():
        jpeg.write_text("junk")
    worker_tmp = tmp_path / "worker_tmp"
    worker_tmp.mkdir()
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    try:
        _start_workers(procs, cluster, lambda index: [
            sys.executable, TRAIN, f"--data_dir={bad if index == 1 else data_dir}", f"--model_dir={tmp_path / 'run'}",
            *TINY, "--distribution_strategy=multi_worker_mirrored"], TMPDIR=str(worker_tmp))
        errors = [p.communicate(timeout=TIMEOUT)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    worker_err, chief_err = errors
    assert [p.returncode for p in procs] == [1, 1]
    assert worker_err.strip().splitlines()[-1].startswith(f"error: bad sample: Cannot decode image: {bad}")
    assert chief_err.strip().splitlines()[-1].startswith("error: worker 1 of the cluster stopped ("), chief_err[-3000:]
    assert "Traceback" not in worker_err + chief_err
    assert not glob.glob(str(worker_tmp / "ct_keras_*"))  # the worker's folder is removed on failure too


@pytest.mark.slow
def test_a_worker_killed_mid_run_stops_the_chief_with_its_backup_whole(tmp_path, data_dir):
    import time

    model_dir = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    args = [sys.executable, TRAIN, f"--data_dir={data_dir}", f"--model_dir={model_dir}", *TINY, "--epochs=3",
            "--steps_per_epoch=10", "--distribution_strategy=multi_worker_mirrored"]
    procs = []
    try:
        _start_workers(procs, cluster, lambda index: args, stdout=subprocess.DEVNULL, TMPDIR=str(tmp_path))
        backup = model_dir / "backup" / "training_metadata.json"
        deadline = time.monotonic() + TIMEOUT
        while not backup.exists():  # the end of epoch 1
            assert procs[1].poll() is None and time.monotonic() < deadline, procs[1].stderr.read()[-3000:]
            time.sleep(0.2)
        time.sleep(1)
        procs[0].kill()  # worker 1, SIGKILL: it prints nothing
        killed = time.monotonic()
        chief_err = procs[1].communicate(timeout=TIMEOUT)[1]
        waited = time.monotonic() - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert procs[1].returncode == 1, chief_err[-3000:]
    assert waited < 60  # measured: 7 s (heartbeats)
    assert chief_err.strip().splitlines()[-1].startswith("error: worker 1 of the cluster stopped ("), chief_err[-3000:]
    assert "Traceback" not in chief_err
    assert json.loads(backup.read_text())["step"] >= 10  # whole: the same command resumes from it
    assert (model_dir / "checkpoints" / "last.weights.h5").is_file()

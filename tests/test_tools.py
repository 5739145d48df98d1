"""The command-line tools, run as a user runs them."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(tool, *args, log_level="3"):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if log_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = log_level
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool), *args],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_import_torch_checkpoint_tool(tmp_path):
    torch = pytest.importorskip("torch")
    from tests import reference_torch as ref

    torch.manual_seed(0)
    reference = ref.ReferenceCTN("resnet18")
    ref.calibrate_batch_norm(reference, [(torch.randn(1, 3, 64, 64), torch.randint(0, 5, (1, 64, 64)))])
    ckpt = tmp_path / "ctn.pth"
    torch.save(reference.state_dict(), ckpt)
    out = tmp_path / "w" / "ctn.weights.h5"
    # As a user runs it (TensorFlow's own log level): no CUDA start-up line on a machine
    # without an NVIDIA device.
    result = _run("import_torch_checkpoint.py", f"--checkpoint={ckpt}", "--model=ctn",
                  "--backbone=resnet18", "--image_size=64", f"--out={out}", log_level=None)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote" in result.stdout and out.exists()
    if not glob.glob("/dev/nvidia[0-9]*"):
        assert "cuInit" not in result.stderr and "cuda" not in result.stderr.lower(), result.stderr

    from ct_keras.models import CompositeTaskingNet

    model = CompositeTaskingNet(backbone="resnet18", image_size=64)
    model.load_weights(str(out))
    np.testing.assert_allclose(model.get_layer("head").kernel.numpy()[0, 0],
                               reference.conv_last.weight.detach().numpy()[:, :, 0, 0].T, rtol=1e-6)

    # A checkpoint of the wrong depth: a one-line error naming keys, no traceback, no file.
    bad_out = tmp_path / "bad.weights.h5"
    result = _run("import_torch_checkpoint.py", f"--checkpoint={ckpt}", "--model=ctn",
                  "--backbone=resnet34", "--image_size=64", f"--out={bad_out}")
    assert result.returncode != 0
    assert "missing from the checkpoint: layer2.1.2.conv1.weight" in result.stderr
    assert "Traceback" not in result.stderr and not bad_out.exists()

    result = _run("import_torch_checkpoint.py", f"--checkpoint={tmp_path / 'nope.pth'}", f"--out={bad_out}")
    assert result.returncode != 0 and "nope.pth does not exist" in result.stderr
    result = _run("import_torch_checkpoint.py", f"--checkpoint={ckpt}", "--out=x.h5")
    assert result.returncode != 0 and "--out must end in .weights.h5" in result.stderr


@pytest.mark.slow
def test_model_summary_tool():
    result = _run("model_summary.py", "--models=ctn,stn", "--backbones=resnet18", "--image_size=64",
                  "--noflops")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| CTN | resnet18 |" in result.stdout and "| STN | resnet18 |" in result.stdout
    result = _run("model_summary.py", "--models=xyz")
    assert result.returncode != 0 and "--models must be among" in result.stderr
    # --without_encoder: what a palette net on the CTN's encoder adds (its decoder alone).
    from ct_keras.models import PaletteNet
    from ct_keras.models.complexity import count_params

    net = PaletteNet(rule="r2", backbone="resnet18", image_size=64)
    decoder = count_params(net)[1] - count_params(net.encoder)[1]
    result = _run("model_summary.py", "--models=palette", "--backbones=resnet18", "--image_size=64",
                  "--noflops", "--without_encoder")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"| {decoder:,} | - |" in result.stdout and 0 < decoder < count_params(net)[1] / 2


@pytest.mark.slow
def test_tools_report_user_errors_in_one_line(tmp_path):
    not_pascal = tmp_path / "photos"
    not_pascal.mkdir()
    result = _run("demo.py", f"--model_dir={tmp_path / 'no_run'}", f"--out={tmp_path / 'out'}")
    assert result.returncode == 1 and "metrics.json not found: train first" in result.stderr
    assert "Traceback" not in result.stderr
    result = _run("evaluate.py", f"--model_dir={tmp_path / 'no_run'}", f"--data_dir={not_pascal}")
    assert result.returncode == 1 and "error: Cannot tell the layout" in result.stderr
    result = _run("build_tfrecords.py", f"--data_dir={not_pascal}", f"--out={tmp_path / 'tfr'}")
    assert result.returncode == 1 and "error: Cannot tell the layout" in result.stderr
    assert "Traceback" not in result.stderr
    result = _run("export.py", "--weights=w.weights.h5", "--constant_weights", "--nofast")
    assert result.returncode == 1 and "--constant_weights is for the fast path" in result.stderr
    assert "Traceback" not in result.stderr

"""What every tool shares (tools/_cli.py): one-line user errors and a quiet TensorFlow start."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import _cli  # noqa: E402

NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796219557.329730    5028 port.cc:153] oneDNN custom operations are on. You may see "
    "slightly different numerical results due to floating-point round-off errors.\n",
    "I0000 00:00:1796219557.330086    5028 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.\n",
)


CU_INIT = ("E0000 00:00:1796600193.488882    5859 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA "
           "error: Failed call to cuInit: UNKNOWN ERROR (303)\n")


def test_the_start_up_notes_are_recognised_and_nothing_else(monkeypatch):
    monkeypatch.setattr(_cli.glob, "glob", lambda pattern: [])  # a machine without an NVIDIA device
    noise = _cli._start_up_noise()
    assert all(noise.search(line) for line in NOISE + (CU_INIT,))
    for line in ("E0000 00:00:1796219557.3 5028 cuda_dnn.cc:8] Unable to register cuDNN factory\n",
                 "Traceback (most recent call last):\n", "error: --data_dir: /x does not exist\n",
                 "W0000 00:00:17.1 5 port.cc:153] something else from port.cc\n"):
        assert not noise.search(line), line
    # With a GPU, a failed cuInit is a real fault (a broken driver): it is shown.
    monkeypatch.setattr(_cli.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    assert not _cli._start_up_noise().search(CU_INIT)
    assert all(_cli._start_up_noise().search(line) for line in NOISE)


def test_a_tool_starts_without_the_notes_and_still_reports_errors():
    """A user error after TensorFlow has started still reaches stderr, in one line."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "model_summary.py"), "--models=ctn",
         "--backbones=resnet18", "--image_size=48", "--noflops"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: `image_size` must be positive multiples of 32 (the encoder has stride 32). Received 48"]


def test_the_tools_run_the_installed_package_and_say_so_when_it_is_missing():
    """No tool edits sys.path to find ct_keras; a Python without the package (here: no
    site-packages at all) gets one line naming the fix, not an ImportError traceback."""
    tools = sorted(name for name in os.listdir(os.path.join(ROOT, "tools")) if name.endswith(".py"))
    edit = re.compile(r"sys\.path\.(insert|append|extend)|sys\.path\s*\+?=")
    editing = [name for name in tools if edit.search(open(os.path.join(ROOT, "tools", name)).read())]
    assert editing == []
    result = subprocess.run([sys.executable, "-S", os.path.join(ROOT, "tools", "train.py"), "--help"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: the ct_keras package is not installed for {sys.executable}: run `make install` and use "
        f".venv/bin/python, or `pip install -e .` in {ROOT}"]

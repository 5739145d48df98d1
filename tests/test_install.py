"""What `make demo` and `make test` install, and that the package declares what it imports."""

import ast
import configparser
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Imported only inside the functions that need them, each with an error naming its extra.
# None: not an extra either — the benchmark's comparison with the authors' code imports them only
# when asked (--reference_repo) and says how to install them when they are missing.
OPTIONAL = {"torch": "torch", "torchvision": None, "onnx": None, "onnxruntime": None,
            "tensorflow_serving": "serving", "grpc": "serving", "starlette": "studio"}
# Import name → distribution name, where they differ.
DISTRIBUTIONS = {"PIL": "pillow", "cv2": "opencv-python-headless", "pyEdgeEval": "pyedgeeval",
                 "absl": "absl-py", "ai_edge_litert": "ai-edge-litert"}


def _setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def _names(requirements):
    return {re.split(r"[<>=!~\[; ]", line.strip())[0].lower()
            for line in requirements.splitlines() if line.strip()}


def _make_dry_run(target):
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    # -B: every step as on a fresh clone, whatever this checkout already installed.
    out = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if "pip install" in line]


def test_make_demo_installs_the_package_alone():
    installs = _make_dry_run("demo")
    assert installs, "make demo installs nothing?"
    text = "\n".join(installs)
    assert "torch" not in text and "[test" not in text and "pytest" not in text, text


def test_make_test_adds_the_test_extras_and_torch():
    text = "\n".join(_make_dry_run("test"))
    assert "torch" in text and ".[test" in text, text


def test_the_demo_needs_none_of_the_test_extras():
    extras = _setup_cfg()["options.extras_require"]
    required = _names(_setup_cfg()["options"]["install_requires"])
    for extra in ("test", "torch", "serving"):
        assert not _names(extras[extra]) & required - {"tensorflow-serving-api"}, extra
    assert not {"torch", "pytest", "tensorflow-serving-api"} & required


def _third_party_imports():
    found = {}
    for path in (ROOT / "ct_keras").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "ct_keras":
                    found.setdefault(top, path.relative_to(ROOT))
    return found


def test_every_module_the_package_imports_is_declared():
    config = _setup_cfg()
    required = _names(config["options"]["install_requires"])
    extras = {k: _names(v) for k, v in config["options.extras_require"].items()}
    for module, where in _third_party_imports().items():
        if module in OPTIONAL:
            extra = OPTIONAL[module]
            assert extra is None or extra in extras, f"{module} ({where}): no [{extra}] extra"
            continue
        distribution = DISTRIBUTIONS.get(module, module).lower()
        assert distribution in required, f"{where} imports {module}: declare {distribution} in setup.cfg"

"""tools/benchmark.py in --quick mode: the JSON's structure and sane numbers, no speed
thresholds (speed is measured in BENCHMARKS.md, never asserted)."""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool(*args, **env_vars):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env_vars)
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "benchmark.py"), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def _sane(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def _check_timing(t):
    for key in ("images_per_s", "seconds_per_image", "min", "max"):
        assert _sane(t[key]), (key, t)
    assert t["min"] <= t["images_per_s"] <= t["max"]
    assert t["runs"] and all(_sane(r) for r in t["runs"])


@pytest.mark.slow
def test_quick_run(tmp_path):
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    result = _tool("--quick", "--image_size=32", f"--json={out}", f"--plot={png}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["settings"]["image_size"] == 32  # a flag given with --quick wins over its tiny default
    assert report["settings"]["backbone"] == "resnet18" and report["settings"]["repeats"] == 1
    assert png.stat().st_size > 1000

    ctn = report["compute"]["results"]["ctn"]
    assert ctn["trainable_params"] < ctn["total_params"]
    assert all(_sane(ctn[k]) for k in ("gflops_one_pass", "gflops_encoder", "gflops_all_tasks"))
    assert ctn["gflops_encoder"] < ctn["gflops_all_tasks_shared_encoder"] < ctn["gflops_all_tasks"]

    keras_run = report["inference"]["ctn"]["keras"]
    assert keras_run["status"] == "ok" and keras_run["threads"]["tensorflow_intra_op"] == 2
    for workload in ("composite", "all"):
        timing = keras_run["results"][workload]["1"]
        _check_timing(timing)
        assert timing["peak_rss_mib"] >= keras_run["baseline_rss_mib"] > 0

    train = report["training"]["ctn"]
    assert train["status"] == "ok" and train["results"]["batch_size"] == 2
    _check_timing(train["results"])
    assert report["pipeline"]["status"] == "ok"
    _check_timing(report["pipeline"]["results"])
    assert "### Inference" in result.stdout and "| CTN | `keras` | composite | 1 |" in result.stdout


@pytest.mark.slow
def test_deploy_paths_match_keras_and_leave_no_exports(tmp_path):
    out = tmp_path / "b.json"
    result = _tool("--quick", "--cases=inference", "--workloads=composite", "--paths=savedmodel,tflite_fp32",
                   "--check", f"--json={out}", TMPDIR=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(out.read_text())["inference"]["ctn"]
    for path in ("savedmodel", "tflite_fp32"):
        assert runs[path]["status"] == "ok", runs[path]
        assert runs[path]["max_abs_diff_vs_keras"]["composite"] < 1e-3
        _check_timing(runs[path]["results"]["composite"]["1"])
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("ct-bench-")]


def test_bad_flags_are_one_line():
    for args, message in ((["--models=ctn,xyz"], "--models must be among"),
                          (["--paths=warp"], "--paths must be among"),
                          (["--batch_sizes=0"], "--batch_sizes must be positive"),
                          (["--reference_repo=/nonexistent/ct"], "is not a directory"),
                          ([f"--model_dir={ROOT}/configs", f"--data_dir={ROOT}/configs"],
                           "configs/model.json not found")):
        result = _tool(*args)
        assert result.returncode != 0
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]


def test_tool_lists_every_path():
    pytest.importorskip("tensorflow")
    import ast

    from ct_keras.benchmarking.paths import paths

    with open(os.path.join(ROOT, "tools", "benchmark.py")) as f:
        tree = ast.parse(f.read())
    (names,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", None) == "PATH_NAMES"]
    assert set(names) == set(paths())


def test_summarize_median_and_spread():
    from ct_keras.benchmarking.stats import summarize

    t = summarize([1.0, 2.0, 4.0], images=8)
    assert t["images_per_s"] == 4.0 and t["min"] == 2.0 and t["max"] == 8.0
    assert t["runs"] == [8.0, 4.0, 2.0] and t["spread_pct"] == 150.0

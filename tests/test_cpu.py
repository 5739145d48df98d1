"""What the library decides from the CPU: TensorFlow's oneDNN kernels on every AVX2 CPU."""

import os
import subprocess
import sys

import pytest

from ct_keras.cpu import ONEDNN_VARIABLE, cpu_flags, prefer_onednn


def test_an_avx2_cpu_gets_onednn_where_tensorflow_would_run_eigen():
    environ = {}
    assert prefer_onednn(["avx2"], environ, "x86_64") == "1"
    assert environ == {ONEDNN_VARIABLE: "1"}


@pytest.mark.parametrize("value", ["0", "false", "1"])
def test_the_users_own_setting_is_kept(value):
    environ = {ONEDNN_VARIABLE: value}
    assert prefer_onednn(["avx2", "avx512f"], environ, "x86_64") == value
    assert environ == {ONEDNN_VARIABLE: value}


@pytest.mark.parametrize("flags, machine", [([], "x86_64"), (["avx2"], "aarch64")])
def test_nothing_is_set_without_avx2_or_off_x86(flags, machine):
    environ = {}
    assert prefer_onednn(flags, environ, machine) is None
    assert environ == {}


def _environment_after(code):
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_VARIABLE}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.strip().splitlines()


@pytest.mark.skipif("avx2" not in cpu_flags(), reason="the CPU has no AVX2")
def test_importing_the_package_sets_it_before_tensorflow_is_loaded():
    lines = _environment_after(
        "import os, sys; import ct_keras; "
        f"print('tensorflow' in sys.modules); print(os.environ.get('{ONEDNN_VARIABLE}'))")
    assert lines == ["False", "1"]


@pytest.mark.skipif("avx2" not in cpu_flags(), reason="the CPU has no AVX2")
def test_the_tools_import_the_package_before_tensorflow():
    tools = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
    lines = _environment_after(
        f"import os, sys; sys.path.insert(0, {tools!r}); import _cli; _cli.import_tensorflow_quietly(); "
        "order = list(sys.modules); print(order.index('ct_keras') < order.index('tensorflow')); "
        f"print(os.environ.get('{ONEDNN_VARIABLE}'))")
    assert lines[-2:] == ["True", "1"]


def test_benchmarks_name_the_variables_that_chose_the_kernels(monkeypatch):
    from ct_keras.benchmarking import machine, report

    monkeypatch.setenv(ONEDNN_VARIABLE, "0")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    described = machine.describe()
    assert described["environment"] == {ONEDNN_VARIABLE: "0", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                        "ATEN_CPU_CAPABILITY": None}
    header = report.markdown({"machine": described, "settings": {"threads": 2},
                              "inference": {}, "training": {}}).splitlines()[0]
    assert header.endswith("; threads 2; TF_ENABLE_ONEDNN_OPTS=0; ONEDNN_MAX_CPU_ISA=AVX2.")

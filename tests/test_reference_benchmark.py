"""`tools/benchmark.py --reference_repo`: the authors' model against ours — inference (with
their model also run by onnxruntime, when it is installed) and `--cases=reference_train`.

Their repository cannot be downloaded here, so the tests lay out a checkout the way theirs
is laid out (the model module at their path, their paper config's model keys) with
`tests/reference_torch.ReferenceCTN` — our re-creation of their `CompositeTaskingNetV0`,
the same module names and state_dict keys — as the class the benchmark imports.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ct_keras.benchmarking import reference, reference_run, reference_train, report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")

CONFIG = """\
# model keys of their R1r CTN config, flat `key: value` lines
task_code_len: 20
encoder_arch: resnet34
n_fc_z_map: 6
latent_w_dim: 128
which_cond: task_composition_v0
cond_cfg_txt: cond_batch1x1
skip_conv_ks: 1
dec_conv_ks: 3
net_output_ch: 3
"""

MODEL = f"""\
import sys

sys.path.insert(0, {TESTS!r})
from reference_torch import ReferenceCTN


class CompositeTaskingNetV0(ReferenceCTN):
    def __init__(self, cfg, task_z_code_dict):
        assert cfg["encoder_pre_trained"] is False
        super().__init__(cfg["encoder_arch"], task_codes=task_z_code_dict)

    def forward_composite_task(self, x, task_palette, considered_task_ids):
        return self.forward(x, task_palette)
"""


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    repo = tmp_path / "composite-tasking"
    model = repo / "src" / "models" / "original_implementation" / "composit_tasking_net"
    model.mkdir(parents=True)
    for folder in (repo / "src", repo / "src" / "models", repo / "src" / "models" / "original_implementation",
                   model):
        (folder / "__init__.py").write_text("")
    (model / "model.py").write_text(MODEL)
    config = repo / reference.CONFIG
    config.parent.mkdir(parents=True)
    config.write_text(CONFIG)
    # Their model.py imports torchvision; ours (the stand-in) does not need it.
    monkeypatch.setattr(reference, "_import_torchvision", lambda: "torchvision not needed (test stand-in)")
    yield str(repo)
    for name in [m for m in sys.modules if m == "src" or m.startswith("src.")]:
        del sys.modules[name]


def _case(repo, side):
    return {"case": "reference_train", "side": side, "reference_repo": repo, "image_size": 64,
            "backbone": "resnet18", "seed": 0, "threads": 2, "warmup": 1, "train_repeats": 2,
            "train_batch_size": 2}


def test_both_sides_train_the_same_network_and_are_timed_alternately(checkout):
    result = reference_train.run(_case(checkout, "both"))
    # Their weights are copied into ours before either steps: the first losses agree, so
    # the two timed steps are the same network on the same batch.
    assert result["first_step_loss_relative_diff"] < 1e-4, result["first_step_loss"]
    assert result["first_step_loss"]["theirs"] > 0
    timing = result["timing"]
    for side in ("theirs", "ours"):
        assert len(timing[side]["runs"]) == 2 and timing[side]["images_per_s"] > 0
    assert result["speedup_vs_reference"] == pytest.approx(
        timing["ours"]["images_per_s"] / timing["theirs"]["images_per_s"])
    assert "encoder_arch=resnet18" in result["notes"][-1]  # --backbone reaches their model too

    table = report.reference_train_table({"both": {"status": "ok", "results": result, "load_average_before": 0.0,
                                                   "load_average_after": 0.0},
                                          "ours": {"status": "error", "note": "x"}})
    assert "| the authors' CTN (PyTorch, eager) |" in table and "| our CTN (TF graph) |" in table
    assert "| error |" in table  # a side whose memory run failed says so

    whole = report.markdown({"machine": {"cpu": "x", "cores_available": 2, "cpu_flags": ["avx2"], "memory_gib": 1,
                                         "packages": {}},
                             "settings": {"threads": 2}, "inference": {}, "training": {},
                             "reference_train": {"both": {"status": "ok", "results": result,
                                                          "load_average_before": 0.0, "load_average_after": 0.0}}})
    assert "### Training against the authors' PyTorch model" in whole
    assert "### Compute" not in whole and "### Inference" not in whole  # cases that did not run


def test_a_step_changes_the_weights_on_each_side(checkout):
    model, _ = reference.load_reference_ctn(checkout, encoder_arch="resnet18")
    image, palette = reference_train._batch(_case(checkout, "theirs"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    step = reference_train.their_step(model, image, palette)
    losses = [step(), step()]
    assert losses[1] != losses[0]
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("encoder") or "conv" in k for k in changed)

    net = reference_train._ours(_case(checkout, "ours"), model)
    ours_before = {v.path: np.array(v) for v in net.trainable_variables}
    step = reference_train.our_step(net, image, palette)
    losses = [step(), step()]
    assert losses[1] != losses[0]
    changed = [v.path for v in net.trainable_variables if not np.array_equal(np.array(v), ours_before[v.path])]
    assert any(p.startswith("conv1") for p in changed) and any(p.startswith("head") for p in changed)


_ONE_SIDE = """
import json, sys
sys.path.insert(0, {tests!r})
from ct_keras.benchmarking import reference, reference_train
reference._import_torchvision = lambda: "torchvision not needed (test stand-in)"
print("RESULT", json.dumps(reference_train.run(json.loads(sys.argv[1]))))
"""


def test_each_side_alone_reports_its_own_peak_memory(checkout, tmp_path):
    # Each side in a fresh process, as the tool's worker runs it: a process's peak RSS is
    # its lifetime's, so in the test process earlier tests would have set it.
    script = tmp_path / "one_side.py"
    script.write_text(_ONE_SIDE.format(tests=TESTS))
    for side in ("theirs", "ours"):
        done = subprocess.run([sys.executable, str(script), json.dumps(_case(checkout, side))],
                              capture_output=True, text=True, cwd=ROOT, timeout=600,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.split("RESULT", 1)[1])
        assert result["added_peak_mib"] > 0 and result["peak_rss_mib"] >= result["rss_before_build_mib"]
        assert result["timing"]["images_per_s"] > 0


def test_the_tool_asks_for_the_checkout():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "benchmark.py"),
                             "--cases=reference_train"], capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode != 0
    assert "--cases=reference_train needs --reference_repo" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_inference_against_theirs_and_their_onnxruntime_export(checkout):
    case = dict(_case(checkout, None), case="reference", reference_paths=["keras"], reference_batch_size=1,
                reference_repeats=2)
    result = reference_run.run(case)
    keras_path = result["ours"]["keras"]
    assert keras_path["equal_within_tolerance"] and keras_path["max_abs_diff_vs_reference"] < 1e-4
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:  # not a dependency: the anchor says how to get it
        assert "pip install onnxruntime onnx" in result["unavailable"]["their onnxruntime"]
        assert "onnxruntime" not in result and "speedup_vs_onnxruntime" not in keras_path
    else:
        assert result["onnxruntime"]["max_abs_diff_vs_reference"] < 1e-4  # their net, exported faithfully
        assert keras_path["speedup_vs_onnxruntime"] == pytest.approx(
            keras_path["images_per_s"] / result["onnxruntime"]["images_per_s"])
    table = report.reference_table({"status": "ok", "results": result, "load_average_before": 0.0,
                                    "load_average_after": 0.0})
    assert "| `keras` |" in table

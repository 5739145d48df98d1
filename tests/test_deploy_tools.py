"""tools/export.py, tools/tflite_demo.py and tools/serving_client.py, run as a user runs them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ct_keras.models import save_model_description
from ct_keras.tasks import paper_anchors
from tests.deploy_helpers import SIZE, tiny_ctn

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(tool, *args, python_code=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, os.path.join(ROOT, "tools", tool), *args]
    if python_code is not None:
        command = [sys.executable, "-c", python_code, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)


def _one_line_error(result, text):
    assert result.returncode == 1, (result.stdout, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and text in lines[0], result.stderr[-2000:]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy_tools")
    model = tiny_ctn(seed=30)
    model_dir = root / "run"
    save_model_description(model, str(model_dir))
    os.makedirs(model_dir / "checkpoints")
    model.save_weights(str(model_dir / "checkpoints" / "best.weights.h5"))
    rng = np.random.default_rng(30)
    Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(root / "image.png")
    Image.fromarray(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)).save(root / "other_size.jpg")
    np.save(root / "bad_palette.npy", np.full((SIZE, SIZE), 9))
    np.save(root / "palette.npy", rng.integers(0, 5, (SIZE, SIZE)))
    return {"root": root, "model_dir": model_dir, "image": root / "image.png",
            "other_size": root / "other_size.jpg", "export_dir": root / "exported"}


@pytest.fixture(scope="module")
def exported(files):
    result = _run("export.py", f"--model_dir={files['model_dir']}", f"--export_dir={files['export_dir']}",
                  "--tflite=fp32", f"--sample_image={files['image']}", "--sample_palette=halves:edges,normals")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_export_tool(files, exported):
    out = exported.stdout
    assert "SavedModel (fast path, 64x64)" in out and "SavedModel vs Keras: max |raw difference|" in out
    assert "TFLite fp32:" in out and "to the SavedModel" in out
    export_dir = files["export_dir"]
    assert sorted(os.listdir(export_dir)) == ["1", "samples", "tflite"]
    assert os.path.isfile(export_dir / "1" / "saved_model.pb")
    assert os.path.isfile(export_dir / "tflite" / "1" / "model_fp32.tflite")
    picture = np.asarray(Image.open(export_dir / "samples" / "1.png"))
    assert picture.shape == (SIZE, 3 * SIZE, 3)


def test_export_tool_errors(files, exported):
    # Bad sample inputs fail before anything is exported.
    export_dir = files["export_dir"]
    _one_line_error(_run("export.py", f"--model_dir={files['model_dir']}", f"--export_dir={export_dir}",
                         f"--sample_image={files['image']}", "--sample_palette=quadrants:0,1,2,9"),
                    "Unknown task '9'")
    _one_line_error(_run("export.py", f"--model_dir={files['model_dir']}", f"--export_dir={export_dir}",
                         f"--sample_image={files['other_size']}"),
                    f"`--sample_image {files['other_size']}` must be 64x64 RGB")
    assert sorted(os.listdir(export_dir)) == ["1", "samples", "tflite"]  # nothing half-made
    _one_line_error(_run("export.py", f"--model_dir={files['model_dir']}", f"--export_dir={export_dir}",
                         "--version=1"), f"{export_dir / '1'} already exists")


def test_export_tool_from_a_weights_file(files, tmp_path):
    weights = files["model_dir"] / "checkpoints" / "best.weights.h5"
    # The weights were saved from a model with embedding_dim=32: --weights builds the
    # default model (128), so the error must say which flags did not fit.
    result = _run("export.py", f"--weights={weights}", "--backbone=resnet18", f"--image_size={SIZE}",
                  f"--export_dir={tmp_path}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "do not fit a ctn with --backbone=resnet18" in result.stderr
    model = tiny_ctn(seed=31, embedding_dim=128)
    model.save_weights(str(tmp_path / "ctn.weights.h5"))
    _one_line_error(_run("export.py", f"--weights={tmp_path / 'ctn.weights.h5'}", "--backbone=resnet18",
                         f"--image_size={SIZE}", f"--export_dir={tmp_path / 'exported'}",
                         f"--anchors={tmp_path / 'nope.json'}"),
                    f"--anchors: Anchors file {tmp_path / 'nope.json'} does not exist")
    # The weights' own anchors (here: the paper's parts table with head and torso swapped).
    anchors = {"parts": {**paper_anchors()["parts"], "head": [0, 255, 0], "torso": [255, 0, 0]}}
    (tmp_path / "anchors.json").write_text(json.dumps(anchors))
    result = _run("export.py", f"--weights={tmp_path / 'ctn.weights.h5'}", "--backbone=resnet18",
                  f"--image_size={SIZE}", f"--export_dir={tmp_path / 'exported'}", "--version=7",
                  "--noverify", f"--anchors={tmp_path / 'anchors.json'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.listdir(tmp_path / "exported") == ["7"]
    info = json.loads((tmp_path / "exported" / "7" / "assets.extra" / "ct_keras_export.json").read_text())
    assert info["anchors"]["parts"] == anchors["parts"] and info["anchors"]["semseg"] == paper_anchors()["semseg"]


DEMO_WITHOUT_TENSORFLOW = f"""
import runpy, sys
sys.path.insert(0, {os.path.join(ROOT, 'tools')!r})
sys.argv = ["tflite_demo.py"] + sys.argv[1:]
try:
    runpy.run_path({os.path.join(ROOT, 'tools', 'tflite_demo.py')!r}, run_name="__main__")
finally:
    print("imported:", sorted({{m.split(".")[0] for m in sys.modules}} & {{"tensorflow", "keras"}}))
"""


def test_tflite_demo(files, exported, tmp_path):
    model = files["export_dir"] / "tflite" / "1" / "model_fp32.tflite"
    out = tmp_path / "demo.png"
    result = _run("", f"--model={model}", f"--image={files['image']}", "--palette=quadrants",
                  f"--out={out}", python_code=DEMO_WITHOUT_TENSORFLOW)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported: []" in result.stdout  # LiteRT alone: no TensorFlow, no Keras
    assert "semseg 25%, parts 25%, saliency 25%, normals 25%" in result.stdout
    assert np.asarray(Image.open(out)).shape == (SIZE, 3 * SIZE, 3)

    result = _run("tflite_demo.py", f"--model={model}", f"--image={files['other_size']}", "--resize",
                  f"--palette={files['root'] / 'palette.npy'}", f"--out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    _one_line_error(_run("tflite_demo.py", f"--model={model}", f"--image={files['other_size']}"),
                    f"`--image {files['other_size']}` must be 64x64 RGB (the size the model was exported at). "
                    "Received shape [48, 80, 3]")
    _one_line_error(_run("tflite_demo.py", f"--model={model}", f"--image={files['image']}",
                         f"--palette={files['root'] / 'bad_palette.npy'}"),
                    "`palette file")
    _one_line_error(_run("tflite_demo.py", f"--model={model}", f"--image={files['image']}",
                         "--palette=quadrants:semseg,parts,edges,depth"), "Unknown task 'depth'")
    _one_line_error(_run("tflite_demo.py", f"--model={files['image']}", f"--image={files['image']}"),
                    f"--model {files['image']} is not a TFLite model")


def test_serving_client_dry_run(files):
    result = _run("serving_client.py", f"--image={files['image']}", f"--image_size={SIZE}",
                  "--palette=halves:parts,saliency", "--format=inputs", "--dry_run")
    assert result.returncode == 0, result.stderr[-2000:]
    body = json.loads(result.stdout)
    assert body["signature_name"] == "serving_default" and set(body["inputs"]) == {"image", "palette"}
    palette = np.asarray(body["inputs"]["palette"])
    assert palette.shape == (1, SIZE, SIZE) and set(np.unique(palette)) == {1, 3}
    image = np.asarray(body["inputs"]["image"])
    np.testing.assert_array_equal(image[0], np.asarray(Image.open(files["image"])))

    result = _run("serving_client.py", f"--image={files['image']}", f"--image_size={SIZE}",
                  "--signature=single_task", "--task=normals", "--dry_run")
    instance = json.loads(result.stdout)["instances"][0]
    assert instance["task"] == 4 and set(instance) == {"image", "task"}

    _one_line_error(_run("serving_client.py", f"--image={files['image']}", f"--image_size={SIZE}",
                         f"--palette={files['root'] / 'bad_palette.npy'}", "--dry_run"),
                    "`palette file")
    _one_line_error(_run("serving_client.py", f"--image={files['other_size']}", f"--image_size={SIZE}",
                         "--dry_run"), "must be 64x64 RGB")
    _one_line_error(_run("serving_client.py", f"--image={files['image']}", f"--image_size={SIZE}",
                         "--server=localhost:1"), "Cannot reach TF Serving at http://localhost:1/v1/models/ctn:predict")
    try:
        import tensorflow_serving.apis  # noqa: F401 (a test dependency; the message without it:)
        grpc_error = "TF Serving at localhost:1 answered UNAVAILABLE"
    except ImportError:
        grpc_error = "pip install tensorflow-serving-api"
    _one_line_error(_run("serving_client.py", f"--image={files['image']}", f"--image_size={SIZE}",
                         "--grpc=localhost:1"), grpc_error)


def test_evaluate_exports_scores_with_the_librarys_metrics(files, exported, tmp_path):
    """tools/evaluate_exports.py: the Keras row is `evaluate_net`'s (what metrics.json holds),
    the TFLite rows come from the same metrics fed the file's decoded outputs."""
    from ct_keras.data import generate_pascal_mt
    from ct_keras.models import load_model_dir
    from ct_keras.training.evaluation import evaluate_net

    data = tmp_path / "syn"
    generate_pascal_mt(str(data), 2, 3, seed=1, size=SIZE)
    tflite = files["export_dir"] / "tflite" / "1" / "model_fp32.tflite"
    out = tmp_path / "scores.json"
    result = _run("evaluate_exports.py", f"--model_dir={files['model_dir']}", f"--data_dir={data}",
                  f"--tflite={tflite}", "--edge_thresholds=5", f"--out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(out.read_text())
    assert scores["edge_thresholds"] == 5
    keras_row = scores["results"]["Keras fp32"]["metrics"]
    want = evaluate_net(load_model_dir(str(files["model_dir"])), str(data), rule="s", image_size=SIZE,
                        batch_size=1, edge_thresholds=5)
    assert keras_row == pytest.approx(want, abs=1e-6)
    exported_row = scores["results"]["model_fp32.tflite"]["metrics"]
    metric_keys = {k for k in want if k != "rule" and not k.endswith("_loss")}
    # Named as in metrics.json; parts only where the images hold people.
    assert {"semseg_miou", "edges_odsf"} <= metric_keys and metric_keys == set(exported_row) - {"rule"}
    agreement = scores["results"]["model_fp32.tflite"]["agreement"]
    assert agreement["semseg"] > 99 and agreement["parts"] > 99 and agreement["normals"] < 1.0  # every image
    assert agreement["edges"] < 1e-3 and agreement["saliency"] < 1e-3
    for key in metric_keys:  # fp32 TFLite gives the Keras model's outputs, so its metrics
        assert exported_row[key] == pytest.approx(want[key], abs=1.0), key
    assert "| Keras fp32 |" in result.stdout and "| model_fp32.tflite |" in result.stdout


def test_evaluate_exports_refuses_a_file_that_is_not_the_runs_export(files, exported, tmp_path):
    from ct_keras.data import generate_pascal_mt

    data = tmp_path / "syn"
    generate_pascal_mt(str(data), 1, 1, seed=1, size=SIZE)
    small = tmp_path / "run32"  # a run of another image size than the file's
    model = tiny_ctn(seed=31, image_size=32)
    save_model_description(model, str(small))
    os.makedirs(small / "checkpoints")
    model.save_weights(str(small / "checkpoints" / "best.weights.h5"))
    tflite = files["export_dir"] / "tflite" / "1" / "model_fp32.tflite"
    _one_line_error(_run("evaluate_exports.py", f"--model_dir={small}", f"--data_dir={data}", f"--tflite={tflite}"),
                    f"--tflite {tflite} takes {SIZE}×{SIZE} images, but --model_dir {small} is a 32×32 model")
    _one_line_error(_run("evaluate_exports.py", f"--model_dir={files['model_dir']}", f"--data_dir={data}",
                         f"--tflite={files['image']}"), f"--tflite {files['image']} is not a TFLite model")

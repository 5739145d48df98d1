"""The palette network (paper §6.2) exported beside the CTN: the SavedModel's `palette` and
`predicted_palette` signatures, the TFLite pair, and `--palette=predicted` from an export
alone, each equal to the run-folder path."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ct_keras.deploy import export_saved_model, export_tflite
from ct_keras.deploy.tflite import PALETTE_FILE, run_tflite_palette
from ct_keras.inference import load_predictor
from ct_keras.inference.palette_model import PalettePredictor
from ct_keras.models import PaletteNet, save_model_description
from tests.deploy_helpers import SIZE, randomize_statistics, tiny_ctn

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The palette is an argmax: a pixel whose two best logits tie within float round-off may
# differ between graphs; measured: every pixel the same.
AGREEMENT = 0.999


def _palette_net(seed=4, **kwargs):
    import keras

    keras.utils.set_random_seed(seed)
    return randomize_statistics(PaletteNet(**{"rule": "r2", "backbone": "resnet18", "image_size": SIZE,
                                              **kwargs}), seed)


def _run_folder(model, folder):
    save_model_description(model, str(folder))
    os.makedirs(folder / "checkpoints")
    model.save_weights(str(folder / "checkpoints" / "best.weights.h5"))
    return str(folder)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("palette_export")
    ctn, net = tiny_ctn(seed=2), _palette_net()
    palette_run = _run_folder(net, root / "palette_run")
    export = export_saved_model(ctn, str(root / "exported"), palette_net=net, palette_source=palette_run)
    tflite = export_tflite(ctn, str(root / "tflite"), ("fp32",), palette_net=net, palette_source=palette_run)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    photo = root / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(photo, quality=92)
    return {"root": root, "ctn": ctn, "net": net, "export": export, "tflite": tflite, "images": images,
            "palette_run": palette_run, "ctn_run": _run_folder(ctn, root / "ctn_run"), "photo": str(photo)}


def _agreement(a, b):
    return float(np.mean(np.asarray(a) == np.asarray(b)))


def test_saved_model_predicted_palette_equals_the_networks_in_keras(setup):
    loaded = tf.saved_model.load(setup["export"])
    images = setup["images"]
    palette = loaded.signatures["palette"](image=tf.constant(images))["palette"].numpy()
    keras_palette = np.argmax(setup["net"](images, training=False).numpy(), axis=-1)
    assert palette.dtype == np.int32 and palette.shape == (2, SIZE, SIZE)
    assert len(np.unique(palette)) > 1  # a real palette, not one task
    assert _agreement(palette, keras_palette) >= AGREEMENT

    outputs = loaded.signatures["predicted_palette"](image=tf.constant(images))
    np.testing.assert_array_equal(outputs["palette"].numpy(), palette)
    composite = loaded.signatures["serving_default"](image=tf.constant(images), palette=tf.constant(palette))
    for name, value in composite.items():  # the same network, the same palette: the same outputs
        np.testing.assert_allclose(outputs[name].numpy(), value.numpy(), rtol=0, atol=1e-6, err_msg=name)
    keras_raw = setup["ctn"]({"image": images, "palette": palette}, training=False).numpy()
    np.testing.assert_allclose(outputs["raw"].numpy(), keras_raw, atol=1e-4 * max(1, np.abs(keras_raw).max()))

    info = json.loads(open(os.path.join(setup["export"], "assets.extra", "ct_keras_export.json")).read())
    assert info["palette_model"]["rule"] == "r2"
    assert info["palette_model"]["source"] == setup["palette_run"]
    assert info["palette_model"]["config"]["image_size"] == SIZE

    with pytest.raises(tf.errors.InvalidArgumentError, match=f"must be {SIZE}x{SIZE}"):
        loaded.signatures["predicted_palette"](image=tf.zeros([1, SIZE, SIZE + 32, 3]))


def test_tflite_pair_predicts_the_saved_models_palette(setup):
    files = setup["tflite"]
    assert os.path.basename(files["palette"]) == PALETTE_FILE
    info = json.loads(open(os.path.join(os.path.dirname(files["fp32"]), "ct_keras_export.json")).read())
    assert info["palette_model"]["file"] == PALETTE_FILE and info["palette_model"]["rule"] == "r2"
    images = setup["images"]
    lite = run_tflite_palette(files["palette"], images)
    served = tf.saved_model.load(setup["export"]).signatures["palette"](image=tf.constant(images))["palette"]
    assert _agreement(lite, served.numpy()) >= AGREEMENT


def test_predictors_of_every_form_give_the_run_folders_palette(setup):
    from ct_keras.deploy.user_inputs import load_image

    photo = load_image(setup["photo"])
    reference = PalettePredictor(setup["palette_run"])(photo)  # the run-folder path
    assert reference.shape == photo.shape[:2]
    for model in (setup["export"], setup["tflite"]["fp32"]):
        exported = load_predictor(model).palette_model
        assert exported is not None, model
        assert _agreement(exported(photo), reference) >= AGREEMENT, model
    assert load_predictor(setup["ctn_run"]).palette_model is None


def test_a_palette_network_that_does_not_fit_is_a_clear_error(setup, tmp_path):
    ctn = setup["ctn"]
    with pytest.raises(ValueError, match=r"runs/p32 takes 32x32 images, the CompositeTasking network 64x64: "
                                         r"train it with --image_size=64"):
        export_saved_model(ctn, str(tmp_path / "a"), palette_net=_palette_net(image_size=32),
                           palette_source="runs/p32")
    with pytest.raises(ValueError, match="chooses among 4 tasks, the CompositeTasking network performs 5"):
        export_tflite(ctn, str(tmp_path / "b"), ("fp32",), palette_net=_palette_net(num_tasks=4))
    with pytest.raises(ValueError, match="holds a CompositeTaskingNet, not a palette network"):
        export_saved_model(ctn, str(tmp_path / "c"), palette_net=ctn)
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")


def _tool(name, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name), *args], capture_output=True,
                          text=True, env=env, timeout=600, cwd=ROOT)


def test_predict_from_an_export_writes_what_the_run_folder_writes(setup, tmp_path):
    root = setup["root"]
    from_run = _tool("predict.py", f"--model={setup['ctn_run']}", "--palette=predicted",
                     f"--palette_model={setup['palette_run']}", f"--out={tmp_path / 'run'}", "--noprogress",
                     setup["photo"])
    assert from_run.returncode == 0, from_run.stderr[-2000:]
    for model in (setup["export"], setup["tflite"]["fp32"]):
        out = tmp_path / os.path.basename(model)
        result = _tool("predict.py", f"--model={model}", "--palette=predicted", f"--out={out}", "--noprogress",
                       setup["photo"])
        assert result.returncode == 0, result.stderr[-2000:]
        got, want = np.load(out / "photo.npz"), np.load(tmp_path / "run" / "photo.npz")
        assert sorted(got.files) == sorted(want.files)
        assert _agreement(got["palette"], want["palette"]) >= AGREEMENT
        np.testing.assert_allclose(got["saliency"], want["saliency"], atol=1e-3)
        assert (out / "photo.png").is_file()

    # A CTN exported alone cannot predict the palette: the message says how to get one.
    alone = export_saved_model(setup["ctn"], str(root / "alone"))
    result = _tool("predict.py", f"--model={alone}", "--palette=predicted", f"--out={tmp_path / 'x'}",
                   setup["photo"])
    assert result.returncode == 1 and "an export that holds one (tools/export.py --palette_model)" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_export_tool_takes_a_palette_run_and_refuses_one_that_does_not_fit(setup, tmp_path):
    result = _tool("export.py", f"--model_dir={setup['ctn_run']}", f"--palette_model={setup['palette_run']}",
                   f"--export_dir={tmp_path / 'exported'}", "--tflite=fp32")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "with the palette network" in result.stdout
    assert "palette signature vs Keras: 100.000 % of pixels the same task" in result.stdout, result.stdout
    assert "TFLite palette network:" in result.stdout and "100.000 % of pixels as the SavedModel" in result.stdout
    assert (tmp_path / "exported" / "tflite" / "1" / PALETTE_FILE).is_file()

    small = _run_folder(_palette_net(image_size=32), tmp_path / "p32")
    result = _tool("export.py", f"--model_dir={setup['ctn_run']}", f"--palette_model={small}",
                   f"--export_dir={tmp_path / 'refused'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: --palette_model {small} takes 32x32 images, the CompositeTasking network 64x64: "
        "train it with --image_size=64")
    assert not (tmp_path / "refused").exists()


class _RestShim:
    """TF Serving's REST `:predict` in front of a SavedModel, as far as the client needs:
    row requests (`instances`) answered with row `predictions`, by calling the signature."""

    def __init__(self, export):
        import http.server
        import threading

        loaded = tf.saved_model.load(export)
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler):  # noqa: N805
                body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
                self.requests.append((handler.path, body))
                signature = loaded.signatures[body["signature_name"]]
                rows = body["instances"]
                inputs = {key: tf.constant(np.asarray([row[key] for row in rows]),
                                           signature.structured_input_signature[1][key].dtype)
                          for key in rows[0]}
                outputs = {k: v.numpy() for k, v in signature(**inputs).items()}
                answer = {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(len(rows))]}
                data = json.dumps(answer).encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data)

            def log_message(handler, *args):  # noqa: N805
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"


def test_serving_client_asks_for_the_predicted_palette(setup, tmp_path):
    image = setup["root"] / "photo64.png"
    Image.fromarray(setup["images"][0].astype(np.uint8)).save(image)
    result = _tool("serving_client.py", f"--image={image}", f"--image_size={SIZE}", "--signature=predicted_palette",
                   "--dry_run")
    assert result.returncode == 0, result.stderr[-2000:]
    body = json.loads(result.stdout)
    assert body["signature_name"] == "predicted_palette" and set(body["instances"][0]) == {"image"}

    shim = _RestShim(setup["export"])
    try:
        out = tmp_path / "answer.png"
        result = _tool("serving_client.py", f"--image={image}", f"--image_size={SIZE}",
                       "--signature=predicted_palette", f"--server={shim.address}", f"--out={out}")
    finally:
        shim.server.shutdown()
    assert result.returncode == 0, result.stderr[-2000:]
    assert "predicted_palette answered" in result.stdout and out.is_file()
    assert shim.requests[0][0] == "/v1/models/ctn:predict"


def test_tflite_demo_runs_the_pair(setup, tmp_path):
    image = setup["root"] / "photo64.png"
    Image.fromarray(setup["images"][0].astype(np.uint8)).save(image)
    out = tmp_path / "demo.png"
    result = _tool("tflite_demo.py", f"--model={setup['tflite']['fp32']}", f"--image={image}",
                   "--palette=predicted", f"--out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_file() and "model_fp32.tflite (64x64)" in result.stdout
    # The tasks it reports are the palette network's, pixel shares and all.
    palette = run_tflite_palette(setup["tflite"]["palette"], setup["images"][:1].astype(np.uint8).astype(np.float32))
    from ct_keras.tasks import TASK_NAMES

    counts = np.bincount(palette.ravel(), minlength=len(TASK_NAMES))
    for name, c in zip(TASK_NAMES, counts):
        if c:
            assert f"{name} {c / counts.sum():.0%}" in result.stdout, result.stdout

    alone = export_tflite(setup["ctn"], str(tmp_path / "alone"), ("fp32",))["fp32"]
    result = _tool("tflite_demo.py", f"--model={alone}", f"--image={image}", "--palette=predicted",
                   f"--out={tmp_path / 'x.png'}")
    assert result.returncode == 1 and "was exported without a palette network" in result.stderr


def test_the_palette_sources_picture_has_a_row_per_source(setup, tmp_path):
    from ct_keras.data import generate_pascal_mt

    data = tmp_path / "syn"
    generate_pascal_mt(str(data), 2, 2, seed=0, size=64, variant="easy")
    out = tmp_path / "sources.png"
    result = _tool("palette_sources.py", f"--model={setup['export']}", f"--data_dir={data}", "--panel_size=96",
                   f"--out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "with the predicted palette" in result.stdout  # the export's own palette network
    picture = np.asarray(Image.open(out))
    # Six rows, each a caption over image | palette | prediction at 96 px: white bands between.
    white_rows = np.all(picture > 250, axis=(1, 2))
    starts = np.flatnonzero(~white_rows[1:] & white_rows[:-1])
    assert picture.shape[1] >= 3 * 96 and len(starts) >= 6
    result = _tool("palette_sources.py", f"--model={setup['export']}", f"--data_dir={data}", "--index=5")
    assert result.returncode == 1 and "has 2 images, not an index 5" in result.stderr


def test_an_int8_palette_file_is_kept_only_within_one_point(setup, tmp_path):
    from ct_keras.data import generate_pascal_mt

    data = tmp_path / "syn"
    generate_pascal_mt(str(data), 4, 4, seed=0, size=64, variant="easy")
    out = tmp_path / "exported"
    result = _tool("export.py", f"--model_dir={setup['ctn_run']}", f"--palette_model={setup['palette_run']}",
                   f"--export_dir={out}", "--tflite=fp32,int8", f"--data_dir={data}", "--calibration_images=4")
    assert result.returncode == 0, result.stderr[-2000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("TFLite palette network int8:")]
    assert len(line) == 1, result.stdout
    folder = out / "tflite" / "1"
    info = json.loads((folder / "ct_keras_export.json").read_text())["palette_model"]
    import re

    int8, fp32 = (float(v) for v in re.findall(r"([\d.]+) %", line[0])[:2])  # both lines: int8 first
    if "not kept" in line[0]:  # random weights: near-ties everywhere, int8 may well flip them
        assert fp32 - int8 > 1.0
        assert not (folder / "palette_int8.tflite").exists() and "int8_file" not in info
    else:
        assert int8 >= fp32 - 1.0
        assert (folder / "palette_int8.tflite").is_file() and info["int8_file"] == "palette_int8.tflite"
    assert info["file"] == PALETTE_FILE and (folder / PALETTE_FILE).is_file()

"""CompositeTasking on users' images: tools/predict.py and `ct_keras.inference`, with a tiny
model saved as a training run, as a SavedModel export and as a .tflite file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ct_keras.deploy import export_saved_model, export_tflite
from ct_keras.deploy.user_inputs import load_image, resize_image
from ct_keras.inference import load_predictor, outputs_at_size, predict_files
from ct_keras.inference.outputs import resize_bilinear
from ct_keras.models import SingleTaskNet, save_model_description
from ct_keras.palettes import PaletteSpec, resize_nearest
from ct_keras.tasks import EDGES, NORMALS, PARTS, SALIENCY, SEMSEG, TASK_NAMES, decode
from tests.deploy_helpers import SIZE, keras_raw, tiny_ctn

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_folder(model, folder):
    save_model_description(model, str(folder))
    os.makedirs(folder / "checkpoints")
    model.save_weights(str(folder / "checkpoints" / "best.weights.h5"))
    return str(folder)


def _photos(root):
    """Pictures as users have them; {path: their upright (H, W)}."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 255, (300, 451, 3), dtype=np.uint8)
    photos = {}

    def add(name, image, hw, **kwargs):
        image.save(root / name, **kwargs)
        photos[str(root / name)] = hw

    add("photo.jpg", Image.fromarray(rgb), (300, 451), quality=90)
    add("grey.png", Image.fromarray(rgb[:40, :70, 0]), (40, 70))
    add("rgba.png", Image.fromarray(np.concatenate([rgb[:50, :50], rgb[:50, :50, :1]], -1), "RGBA"), (50, 50))
    add("palette_mode.png", Image.fromarray(rgb[:64, :96]).convert("P"), (64, 96))
    add("sixteen.png", Image.fromarray(rgb[:33, :65, 1].astype(np.uint16) * 257), (33, 65))
    exif = Image.Exif()
    exif[0x0112] = 8  # rotated 90°: stored 60 x 100, shown 100 x 60
    add("rotated.jpg", Image.fromarray(rgb[:60, :100]), (100, 60), exif=exif)
    return photos


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    model = tiny_ctn(seed=11)
    export_dir = root / "exported"
    export_saved_model(model, str(export_dir))
    tflite = export_tflite(model, str(root / "tflite"), ("fp32",))["fp32"]
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return {"root": root, "model": model, "run": _run_folder(model, root / "run"),
            "export": str(export_dir), "tflite": tflite, "photos": _photos(root),
            "broken": str(root / "broken.jpg")}


def _tool(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "predict.py"), *args],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)


def _check_npz(path, hw):
    arrays = dict(np.load(path))
    palette = arrays["palette"]
    assert palette.shape == hw
    assert set(arrays) == {"palette"} | {TASK_NAMES[k] for k in np.unique(palette)}
    for name, value in arrays.items():
        if name == "palette":
            continue
        task = TASK_NAMES.index(name)
        mine = palette == task
        assert value.shape[:2] == hw
        if task in (SEMSEG, PARTS):
            assert np.all(value[~mine] == 255) and value[mine].max() < (21 if task == SEMSEG else 7)
        elif task in (EDGES, SALIENCY):
            assert np.all(value[~mine] == -1) and 0 <= value[mine].min() and value[mine].max() <= 1
        else:
            np.testing.assert_allclose(np.linalg.norm(value[mine], axis=-1), 1, atol=1e-5)
            assert np.all(value[~mine] == 0)
    return arrays


def test_every_image_kind_and_a_broken_file(setup, tmp_path):
    predictor = load_predictor(setup["run"])
    paths = list(setup["photos"]) + [setup["broken"]]
    failures = predict_files(predictor, paths, PaletteSpec("r1r:1"), str(tmp_path), batch_size=3,
                             progress=False)
    assert [p for p, _ in failures] == [setup["broken"]]
    assert "Cannot read image" in failures[0][1] and "broken.jpg" in failures[0][1]
    for path, hw in setup["photos"].items():
        stem = os.path.splitext(os.path.basename(path))[0]
        arrays = _check_npz(tmp_path / f"{stem}.npz", hw)
        assert len(np.unique(arrays["palette"])) == 4  # r1r at the image's own size
        figure = np.asarray(Image.open(tmp_path / f"{stem}.png"))
        assert figure.shape[1] >= 3 * hw[1] and figure.shape[0] > hw[0]
    assert not os.path.exists(tmp_path / "broken.png")


def test_outputs_are_the_models_at_the_image_size(setup, tmp_path):
    path = next(p for p, hw in setup["photos"].items() if hw == (300, 451))
    spec = PaletteSpec("quadrants:semseg,edges,parts,normals")
    predict_files(load_predictor(setup["run"]), [path], spec, str(tmp_path), progress=False)
    arrays = dict(np.load(tmp_path / "photo.npz"))
    # By hand: the Keras model at 64², decoded, and resized back to 300 x 451.
    image = load_image(path)
    palette = spec.palette(image.shape[:2])
    raw = keras_raw(setup["model"], resize_image(image, (SIZE, SIZE))[None].astype("float32"),
                    resize_nearest(palette, (SIZE, SIZE))[None])[0]
    tl, tr, bl, br = (slice(0, 150), slice(0, 225)), (slice(0, 150), slice(225, None)), \
        (slice(150, None), slice(0, 225)), (slice(150, None), slice(225, None))
    anchors = setup["model"].anchors
    semseg = resize_nearest(decode(raw, SEMSEG, anchors), (300, 451))
    assert np.mean(arrays["semseg"][tl] == semseg[tl]) > 0.999  # the fast path equals it to 1e-4
    parts = resize_nearest(decode(raw, PARTS, anchors), (300, 451))
    assert np.mean(arrays["parts"][bl] == parts[bl]) > 0.999
    edges = resize_bilinear(decode(raw, EDGES), (300, 451))
    np.testing.assert_allclose(arrays["edges"][tr], edges[tr], atol=1e-4)
    normals = resize_bilinear(decode(raw, NORMALS), (300, 451))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    np.testing.assert_allclose(arrays["normals"][br], normals[br], atol=1e-4)
    # The same through outputs_at_size directly.
    direct = outputs_at_size(raw, palette, anchors)
    np.testing.assert_allclose(direct["normals"], arrays["normals"], atol=1e-4)


def test_exports_predict_like_the_run(setup):
    run = load_predictor(setup["run"])
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    palette = rng.integers(0, 5, (2, SIZE, SIZE)).astype("int32")
    expected = run.raw(image, palette)
    np.testing.assert_allclose(expected, keras_raw(setup["model"], image, palette), atol=1e-4)
    for path in (setup["export"], os.path.join(setup["export"], "1"), setup["tflite"]):
        predictor = load_predictor(path)
        assert predictor.image_hw == (SIZE, SIZE)
        np.testing.assert_allclose(predictor.raw(image, palette), expected, atol=1e-3, err_msg=path)
    with pytest.raises(ValueError, match=r"must hold task ids in \[0, 5\)"):
        load_predictor(setup["tflite"]).raw(image, palette + 1)  # TFLite has no asserts: we check


def test_semantic_palettes_from_a_label_folder(setup, tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    label = np.zeros((40, 70), np.uint8)
    label[:, 35:] = 15  # person: parts under R2
    Image.fromarray(label).save(labels / "grey.png")
    grey = next(p for p in setup["photos"] if p.endswith("grey.png"))
    predict_files(load_predictor(setup["export"]), [grey], PaletteSpec("r2"), str(tmp_path / "out"),
                  label=str(labels), progress=False)
    arrays = _check_npz(tmp_path / "out" / "grey.npz", (40, 70))
    assert np.all(arrays["palette"][:, 35:] == PARTS) and np.all(arrays["palette"][:, :35] == EDGES)
    with pytest.raises(FileNotFoundError, match="No label photo.png"):
        from ct_keras.inference.predict_files import label_for
        label_for("x/photo.jpg", str(labels))
    with pytest.raises(ValueError, match="follows the semseg classes of each image: give --label"):
        predict_files(None, [grey], PaletteSpec("r3"), str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="needs --palette_model"):
        predict_files(None, [grey], PaletteSpec("predicted"), str(tmp_path), progress=False)


def test_single_task_network(setup, tmp_path):
    stn = SingleTaskNet(task="saliency", backbone="resnet18", image_size=SIZE)
    predictor = load_predictor(_run_folder(stn, tmp_path / "stn"))
    grey = next(p for p in setup["photos"] if p.endswith("grey.png"))
    assert predict_files(predictor, [grey], PaletteSpec("s:saliency"), str(tmp_path / "out"),
                         progress=False) == []
    _check_npz(tmp_path / "out" / "grey.npz", (40, 70))
    with pytest.raises(ValueError, match=r"single-task network for saliency: the palette asks for "
                                         r"\['semseg'\] too; use --palette=s:saliency"):
        predict_files(predictor, [grey], PaletteSpec("halves:semseg,saliency"), str(tmp_path), progress=False)


def test_tool_with_a_broken_file(setup, tmp_path):
    photos = [p for p in setup["photos"] if p.endswith(("photo.jpg", "rotated.jpg"))]
    result = _tool(f"--model={setup['run']}", "--palette=quadrants", f"--out={tmp_path}",
                   "--batch_size=2", "--noprogress", photos[0], setup["broken"], photos[1])
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and setup["broken"] in errors[0] and "Cannot read image" in errors[0]
    assert "Wrote 2 of 3 images" in result.stdout
    _check_npz(tmp_path / "photo.npz", (300, 451))
    _check_npz(tmp_path / "rotated.npz", (100, 60))


def test_tool_edits_on_an_export(setup, tmp_path):
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps({"shapes": [
        {"shape": "rectangle", "task": "normals", "x0": 0, "y0": 0, "x1": 225, "y1": 300},
        {"shape": "brush", "task": "edges", "points": [[0, 150], [450, 150]], "width": 20}]}))
    photo = next(p for p, hw in setup["photos"].items() if hw == (300, 451))
    result = _tool(f"--model={setup['export']}", "--palette=s:semseg", f"--edits={edits}",
                   f"--out={tmp_path / 'out'}", "--noprogress", photo)
    assert result.returncode == 0, result.stderr[-3000:]
    arrays = dict(np.load(tmp_path / "out" / "photo.npz"))
    assert np.all(arrays["base_palette"] == SEMSEG) and arrays["base_semseg"].max() < 21
    palette = arrays["palette"]
    assert np.all(palette[:140, :225] == NORMALS) and np.all(palette[:140, 225:] == SEMSEG)
    assert np.all(palette[141:159] == EDGES)
    assert {"semseg", "edges", "normals", "base_palette", "base_semseg"} <= set(arrays)
    figure = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    assert figure.shape[1] >= 5 * 451  # image | palette | prediction | edited palette | prediction


def test_tool_errors(setup, tmp_path):
    painted = np.zeros((8, 8, 3), np.uint8)
    Image.fromarray(painted).save(tmp_path / "black.png")
    photo = next(iter(setup["photos"]))
    result = _tool(f"--model={setup['run']}", f"--palette={tmp_path / 'black.png'}", photo)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: palette file" in result.stderr and "not task legend colours ((0, 0, 0)" in result.stderr

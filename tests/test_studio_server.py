"""The palette studio's server over HTTP (Starlette TestClient): each endpoint's answer and
its errors, on a tiny CTN run folder."""

import io
import json

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the studio needs the [studio] extra: pip install -e '.[studio]'")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx: pip install -e '.[test]'")

from starlette.testclient import TestClient  # noqa: E402

from ct_keras.inference import load_predictor  # noqa: E402
from ct_keras.studio import Studio  # noqa: E402
from ct_keras.studio.server import create_app  # noqa: E402
from ct_keras.studio.uploads import MAX_BYTES, MAX_SIDE  # noqa: E402
from ct_keras.tasks import TASK_COLOURS, TASK_IDS  # noqa: E402
from tests.studio_helpers import (  # noqa: E402
    photo, png, read_palette_png, serving, tiny_palette_run, tiny_run_folder,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    run = tiny_run_folder(tmp_path_factory.mktemp("studio") / "run")
    with TestClient(create_app(Studio(load_predictor(run))), raise_server_exceptions=False) as c:
        yield c


def _upload(client, data, name="photo.png"):
    return client.post("/api/image", files={"file": (name, data, "application/octet-stream")})


@pytest.fixture(scope="module")
def work(client):
    picture = _upload(client, png(photo(90, 120))).json()
    base = client.post("/api/base", data={"image": picture["image"], "spec": "s:semseg"}).json()
    return {"image": picture["image"], "base": base["base"]}


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "Palette studio" in page.text
    for name in ("main.js", "paint.js", "legend.js", "api.js", "views.js", "studio.css"):
        assert client.get(f"/static/{name}").status_code == 200, name
    info = client.get("/api/info").json()
    assert info["model_size"] == [64, 64]
    assert "predicted" not in info["rules"] and "r2" in info["rules"]
    assert [t["colour"] for t in info["tasks"]] == TASK_COLOURS.tolist()


def test_upload_and_image(client):
    picture = _upload(client, png(photo(90, 120))).json()
    assert (picture["width"], picture["height"]) == (120, 90)
    shown = client.get(f"/api/image/{picture['image']}")
    assert shown.headers["content-type"] == "image/png"


@pytest.mark.parametrize("data, name, status, words", [
    (b"%PDF-1.4 not a picture", "notes.pdf", 400, "notes.pdf is not an image"),
    (b"", "empty.png", 400, "empty.png is empty"),
    (b"\x89PNG" + b"0" * (MAX_BYTES + 1), "huge.png", 413, "at most 20 MB"),
])
def test_upload_errors(client, data, name, status, words):
    answer = _upload(client, data, name)
    assert answer.status_code == status
    assert words in answer.json()["error"]


def test_upload_over_the_pixel_cap(client):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (MAX_SIDE + 1, 8)).save(buffer, format="PNG")  # small file, too many pixels
    answer = _upload(client, buffer.getvalue(), "wide.png")
    assert answer.status_code == 413
    assert f"{MAX_SIDE + 1} × 8 pixels" in answer.json()["error"]


def test_sample_has_a_label_for_r2(client):
    picture = client.post("/api/sample", json={"seed": 4}).json()
    assert picture["has_label"] and (picture["width"], picture["height"]) == (256, 256)
    base = client.post("/api/base", data={"image": picture["image"], "spec": "r2"})
    assert base.status_code == 200 and base.json()["spec"] == "r2"
    assert client.post("/api/sample", json={"seed": "x"}).status_code == 400


def test_base_errors(client, work):
    def base(**data):
        return client.post("/api/base", data=data)

    answer = base(image=work["image"], spec="r2")
    assert answer.status_code == 400 and "only the synthetic samples" in answer.json()["error"]
    answer = base(image=work["image"], spec="predicted")
    assert answer.status_code == 400 and "--palette_model" in answer.json()["error"]
    answer = base(image=work["image"], spec="/etc/passwd.png")
    assert answer.status_code == 400 and "upload the palette" in answer.json()["error"]
    answer = base(image=work["image"], spec="zigzag")
    assert answer.status_code == 400 and "Cannot read the palette 'zigzag'" in answer.json()["error"]
    answer = base(image="nope", spec="s:edges")
    assert answer.status_code == 404 and "Unknown image 'nope'" in answer.json()["error"]


def test_palette_upload(client, work):
    ids = np.zeros((90, 120), np.uint8)
    ids[:, 60:] = TASK_IDS["normals"]
    rgb = TASK_COLOURS[ids]
    answer = client.post("/api/base", data={"image": work["image"]},
                         files={"file": ("mine.png", png(rgb), "image/png")})
    assert answer.status_code == 200 and answer.json()["note"] is None
    body = {"image": work["image"], "base": answer.json()["base"], "shapes": []}
    palette = read_palette_png(client.post("/api/download/palette.png", json=body).content)
    np.testing.assert_array_equal(palette, ids)

    rgb[3, 4] = (1, 2, 3)
    answer = client.post("/api/base", data={"image": work["image"]},
                         files={"file": ("odd.png", png(rgb), "image/png")})
    assert answer.status_code == 400
    assert "odd.png: 1 pixels have colours that are not task legend colours" in answer.json()["error"]
    answer = client.post("/api/base", data={"image": work["image"]},
                         files={"file": ("small.png", png(TASK_COLOURS[ids[::3, ::3]]), "image/png")})
    assert answer.status_code == 200 and "resized (nearest)" in answer.json()["note"]


def test_edit_file_upload(client):
    edit_file = {"base": "halves", "shapes": [
        {"shape": "circle", "task": "saliency", "cx": 5, "cy": 6, "r": 3},
        {"shape": "fill", "task": 2, "x": 1, "y": 1}]}
    answer = client.post("/api/edits", files={"file": ("e.json", json.dumps(edit_file), "application/json")})
    assert answer.json() == {"base": "halves", "shapes": [
        {"shape": "circle", "task": "saliency", "cx": 5.0, "cy": 6.0, "r": 3.0},
        {"shape": "fill", "task": "edges", "x": 1.0, "y": 1.0}]}
    for text, words in [("{not json", "e.json is not valid JSON"),
                        ('[{"shape": "star", "task": 0}]', "unknown shape 'star'"),
                        ('[{"shape": "brush", "task": 0, "points": [[1, 2]]}]', "missing field 'width'")]:
        answer = client.post("/api/edits", files={"file": ("e.json", text, "application/json")})
        assert answer.status_code == 400 and words in answer.json()["error"], text


def test_predict_paints_the_shapes(client, work):
    stroke = {"shape": "brush", "task": "parts", "points": [[10, 40], [100, 40]], "width": 9}
    box = {"shape": "rectangle", "task": "normals", "x0": 0, "y0": 70, "x1": 30, "y1": 90}
    body = {**work, "shapes": [stroke, box]}
    result = client.post("/api/predict", json=body).json()
    assert sorted(v["task"] for v in result["views"]) == ["normals", "parts", "semseg"]
    assert result["legend"][0]["heading"] == "Tasks"
    assert result["prediction"].startswith("data:image/bmp;base64,")
    palette = read_palette_png(client.post("/api/download/palette.png", json=body).content)
    assert palette.shape == (90, 120)
    assert (palette[36:45, 12:98] == TASK_IDS["parts"]).all()
    assert (palette[72:, :28] == TASK_IDS["normals"]).all()
    assert (palette[:30] == TASK_IDS["semseg"]).all()
    # Undo (fewer shapes) gives the palette without them again.
    undone = client.post("/api/download/palette.png", json={**body, "shapes": [stroke]})
    palette = read_palette_png(undone.content)
    assert (palette[72:, :28] == TASK_IDS["semseg"]).all()


def test_downloads(client, work):
    body = {**work, "shapes": [{"shape": "rectangle", "task": "edges", "x0": 0, "y0": 0, "x1": 50, "y1": 50}]}
    edits = client.post("/api/download/edits.json", json=body)
    assert edits.headers["content-disposition"] == 'attachment; filename="photo_edits.json"'
    assert edits.json() == {"base": "s:semseg", "shapes": body["shapes"]}
    arrays = np.load(io.BytesIO(client.post("/api/download/outputs.npz", json=body).content))
    assert set(arrays) == {"palette", "semseg", "edges"}
    assert arrays["edges"].shape == (90, 120) and (arrays["edges"][60:] == -1).all()
    figure = client.post("/api/download/figure.png", json=body)
    assert figure.headers["content-type"] == "image/png"
    assert client.post("/api/download/weights.h5", json=body).status_code == 404


@pytest.mark.parametrize("body, status, words", [
    ("not json", 400, "not JSON"),
    ([1, 2], 400, "must be a JSON object"),
    ({"base": "x", "shapes": []}, 400, "Missing field 'image'"),
    ({"image": "nope", "base": "nope", "shapes": []}, 404, "Unknown starting palette"),
    ("shapes-not-a-list", 400, "'shapes' must be a list"),
    ("bad-shape", 400, "the painted shapes: shapes[0] (rectangle): missing field 'y1'"),
])
def test_predict_errors(client, work, body, status, words):
    if body == "shapes-not-a-list":
        body = {**work, "shapes": "brush"}
    elif body == "bad-shape":
        body = {**work, "shapes": [{"shape": "rectangle", "task": 0, "x0": 1, "y0": 1, "x1": 3}]}
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    answer = client.post("/api/predict", **kwargs)
    assert answer.status_code == status
    assert words in answer.json()["error"]


def test_predicted_starting_palette(tmp_path):
    from ct_keras.inference.palette_model import PalettePredictor

    predictor = load_predictor(tiny_run_folder(tmp_path / "run"))
    palette_model = PalettePredictor(tiny_palette_run(tmp_path / "palette"))
    with TestClient(create_app(Studio(predictor, palette_model))) as client:
        assert "predicted" in client.get("/api/info").json()["rules"]
        image = photo(70, 50, seed=9)
        picture = _upload(client, png(image)).json()
        base = client.post("/api/base", data={"image": picture["image"], "spec": "predicted"}).json()
        assert base["spec"] == "predicted"
        body = {"image": picture["image"], "base": base["base"], "shapes": []}
        palette = read_palette_png(client.post("/api/download/palette.png", json=body).content)
        np.testing.assert_array_equal(palette, palette_model(image))
        edits = client.post("/api/download/edits.json", json=body).json()
        assert edits == {"base": "predicted", "shapes": []}

    # From an export alone: the palette network it holds (tools/studio.py takes
    # `predictor.palette_model` when --palette_model is not given).
    from ct_keras.deploy import export_saved_model
    from ct_keras.models import load_model_dir

    export = export_saved_model(predictor.model, str(tmp_path / "exported"),
                                palette_net=load_model_dir(palette_model.source))
    exported = load_predictor(export)
    with TestClient(create_app(Studio(exported, exported.palette_model))) as client:
        assert "predicted" in client.get("/api/info").json()["rules"]
        picture = _upload(client, png(image)).json()
        base = client.post("/api/base", data={"image": picture["image"], "spec": "predicted"}).json()
        body = {"image": picture["image"], "base": base["base"], "shapes": []}
        palette = read_palette_png(client.post("/api/download/palette.png", json=body).content)
        assert np.mean(palette == palette_model(image)) >= 0.999  # argmax: round-off may flip a tie


def test_concurrent_requests_over_http(tmp_path):
    """Uploads and predictions from several clients at once, through uvicorn: every answer is
    right and equals the same request made alone (the model runs behind a lock)."""
    import concurrent.futures

    import httpx

    pytest.importorskip("uvicorn", reason="the studio needs the [studio] extra: pip install -e '.[studio]'")
    studio = Studio(load_predictor(tiny_run_folder(tmp_path / "run")))
    with serving(studio) as url, httpx.Client(base_url=url, timeout=120) as http:
        def session(seed):
            data = png(photo(40 + seed, 60, seed))
            picture = http.post("/api/image", files={"file": (f"p{seed}.png", data)})
            image_id = picture.json()["image"]
            base = http.post("/api/base", data={"image": image_id, "spec": "halves"}).json()["base"]
            body = {"image": image_id, "base": base, "shapes": [
                {"shape": "circle", "task": "edges", "cx": 10 + seed, "cy": 12, "r": 6}]}
            live = http.post("/api/predict", json=body)
            arrays = np.load(io.BytesIO(http.post("/api/download/outputs.npz", json=body).content))
            return seed, live.status_code, dict(arrays)

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(session, range(6)))
        for seed, status, arrays in results:
            assert status == 200
            assert arrays["palette"].shape == (40 + seed, 60)
            alone, _ = studio.predict(studio.add_picture(photo(40 + seed, 60, seed), "again"),
                                      arrays["palette"])
            for name, value in alone.items():
                np.testing.assert_allclose(arrays[name], value, atol=1e-5, err_msg=name)


def test_the_tool_serves_the_page_and_reports_errors(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tool = [sys.executable, os.path.join(root, "tools", "studio.py")]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    missing = subprocess.run(tool + [f"--model={tmp_path / 'nothing'}"], capture_output=True, text=True,
                             env=env, timeout=300)
    assert missing.returncode != 0
    assert f"error: --model {tmp_path / 'nothing'} does not exist" in missing.stderr

    run = tiny_run_folder(tmp_path / "run")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(tool + [f"--model={run}", f"--port={port}"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert server.stdout.readline().strip().endswith(f"http://127.0.0.1:{port}/  (Ctrl-C stops it)")
        deadline = time.time() + 120
        while True:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=5).json()
                break
            except httpx.TransportError:
                assert time.time() < deadline and server.poll() is None, "tools/studio.py did not serve"
                time.sleep(0.5)
        assert info["model"] == run and info["model_size"] == [64, 64]
    finally:
        server.terminate()
        server.wait(timeout=60)

"""User inputs and TF Serving request bodies (numpy only, no model)."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from ct_keras.deploy import serving_requests as requests
from ct_keras.deploy import user_inputs
from ct_keras.deploy.pictures import composite_picture
from ct_keras.tasks import TASK_COLOURS, paper_anchors

HW = (64, 96)


def test_palette_specs():
    assert np.all(user_inputs.parse_palette("normals", HW) == 4)
    assert np.all(user_inputs.parse_palette("2", HW) == 2)
    quadrants = user_inputs.parse_palette("quadrants:edges,parts,semseg,4", HW)
    assert quadrants.shape == HW and quadrants.dtype == np.int32
    assert (quadrants[0, 0], quadrants[0, -1], quadrants[-1, 0], quadrants[-1, -1]) == (2, 1, 0, 4)
    assert np.bincount(quadrants.ravel()).tolist() == [1536, 1536, 1536, 0, 1536]
    halves = user_inputs.parse_palette("halves", HW)
    assert np.all(halves[:, :48] == 0) and np.all(halves[:, 48:] == 4)


def test_palette_files(tmp_path):
    ids = np.random.default_rng(0).integers(0, 5, HW)
    Image.fromarray(ids.astype(np.uint8), mode="L").save(tmp_path / "p.png")
    np.testing.assert_array_equal(user_inputs.parse_palette(str(tmp_path / "p.png"), HW), ids)
    Image.fromarray(np.zeros(HW + (3,), np.uint8)).save(tmp_path / "rgb.png")
    # RGB palettes are painted in the legend colours: black is none of them.
    with pytest.raises(ValueError, match=r"rgb.png: 6144 pixels have colours that are not task "
                                         r"legend colours \(\(0, 0, 0\); first at row 0, column 0\)"):
        user_inputs.parse_palette(str(tmp_path / "rgb.png"), HW)
    np.save(tmp_path / "small.npy", ids[:32])
    with pytest.warns(UserWarning, match=r"small.npy is 32x96, the image 64x96: resized \(nearest\)"):
        small = user_inputs.parse_palette(str(tmp_path / "small.npy"), HW)
    np.testing.assert_array_equal(small[::2], ids[:32])
    with pytest.raises(FileNotFoundError, match="none.npy does not exist"):
        user_inputs.parse_palette(str(tmp_path / "none.npy"), HW)


@pytest.mark.parametrize("palette, message", [
    (np.full(HW, 5), r"task ids in \[0, 5\) \(0 semseg, .*4 normals\)\. Received ids \[5\]"),
    (np.full(HW, -1), r"Received ids \[-1\]"),
    (np.full(HW, 1.5), "integer task ids. Received fractional values"),
    (np.full(HW, "a"), "integer task ids. Received dtype <U1"),
    (np.zeros((64, 64)), r"must be 64x96 task ids to match the image"),
])
def test_bad_palettes(palette, message):
    with pytest.raises(ValueError, match=message):
        user_inputs.check_palette(palette, HW)


def test_bad_specs_and_images(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown task '5'.*id in \[0, 5\)"):
        user_inputs.parse_palette("5", HW)
    with pytest.raises(ValueError, match="Expected 4 tasks"):
        user_inputs.parse_palette("quadrants:semseg,parts", HW)
    with pytest.raises(ValueError, match="Cannot read the palette 'stripes'"):
        user_inputs.parse_palette("stripes", HW)
    with pytest.raises(ValueError, match=r"must be 64x96 RGB.*Received shape \[96, 64, 3\]"):
        user_inputs.check_image(np.zeros((96, 64, 3)), HW)
    (tmp_path / "x.png").write_text("not a picture")
    with pytest.raises(ValueError, match="Cannot read image"):
        user_inputs.load_image(str(tmp_path / "x.png"))
    assert user_inputs.resize_image(np.zeros((10, 20, 3), np.uint8), HW).shape == HW + (3,)


def test_rest_bodies():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 64, 96, 3)).astype(np.float32)
    palettes = rng.integers(0, 5, (2, 64, 96))
    body = json.loads(json.dumps(requests.rest_body("serving_default", images, palettes)))
    assert body["signature_name"] == "serving_default" and len(body["instances"]) == 2
    row = body["instances"][1]
    np.testing.assert_array_equal(np.asarray(row["image"]), images[1])
    assert isinstance(row["image"][0][0][0], int)  # whole numbers travel as JSON integers
    np.testing.assert_array_equal(np.asarray(row["palette"]), palettes[1])

    body = requests.rest_body("encoded_image", images, palettes, request_format="inputs")
    assert set(body["inputs"]) == {"image_bytes", "palette"}
    png = base64.b64decode(body["inputs"]["image_bytes"][0]["b64"])
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), images[0].astype(np.uint8))

    body = requests.rest_body("single_task", images, tasks=[3, 0])
    assert [r["task"] for r in body["instances"]] == [3, 0]
    with pytest.raises(ValueError, match="needs a palette"):
        requests.rest_body("serving_default", images)
    with pytest.raises(ValueError, match="`signature` must be one of"):
        requests.rest_body("predict", images, palettes)
    assert requests.rest_url("localhost:8501", "ctn") == "http://localhost:8501/v1/models/ctn:predict"
    assert requests.rest_url("https://h/", "ctn", 3) == "https://h/v1/models/ctn/versions/3:predict"


def test_rest_responses():
    rows = {"predictions": [{"semseg": [[1]], "raw": [[[0.5, 0, 0]]]}, {"semseg": [[2]], "raw": [[[0, 0, 0]]]}]}
    parsed = requests.parse_rest_response(json.dumps(rows))
    assert parsed["semseg"].shape == (2, 1, 1) and parsed["raw"].shape == (2, 1, 1, 3)
    parsed = requests.parse_rest_response({"outputs": {"semseg": [[[1]]]}})
    assert parsed["semseg"].tolist() == [[[1]]]
    with pytest.raises(ValueError, match="answered with an error: assertion failed"):
        requests.parse_rest_response({"error": "assertion failed: [`palette` must hold task ids"})


def test_composite_picture():
    palette = np.array([[0, 1], [3, 4]])
    outputs = {"semseg": np.array([[15, 255], [0, 0]]), "parts": np.array([[255, 2], [0, 0]]),
               "edges": -np.ones((2, 2)), "saliency": np.array([[-1, -1], [1.0, -1]]),
               "normals": np.zeros((2, 2, 3)) + [0, 0, 1]}
    picture = composite_picture(outputs, palette)
    assert picture[0, 0].tolist() == [192, 128, 128]  # person: its anchor (paper Table 5, reversed)
    assert picture[0, 1].tolist() == [0, 255, 0]  # torso (Table 6)
    anchors = {"parts": {**paper_anchors()["parts"], "torso": [1, 2, 3], "head": [0, 255, 0]}}
    assert composite_picture(outputs, palette, anchors)[0, 1].tolist() == [1, 2, 3]
    assert picture[1, 0].tolist() == [255, 255, 255] and picture[1, 1].tolist() == [127, 127, 255]
    assert TASK_COLOURS.shape == (5, 3)

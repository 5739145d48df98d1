"""Palette specs, palette files, edit files and user images (numpy / PIL; no model)."""

import json

import numpy as np
import pytest
from PIL import Image

from ct_keras.data.palettes import task_palette
from ct_keras.deploy.user_inputs import load_image
from ct_keras.palettes import PaletteSpec, palette_from_spec, read_edits, write_palette_png
from ct_keras.tasks import EDGES, NORMALS, PARTS, SALIENCY, SEMSEG, TASK_COLOURS, VOC_CLASSES

HW = (30, 45)


def test_rules():
    assert np.all(palette_from_spec("s:normals", HW) == NORMALS)
    assert np.all(palette_from_spec("s:2", HW) == EDGES) and palette_from_spec("parts", HW).shape == HW
    r1r = palette_from_spec("r1r:3", HW)
    # The training rule itself, at the image's size, seeded by (seed, 0).
    np.testing.assert_array_equal(r1r, task_palette("r1r", seed=[3, 0], shape=HW).numpy())
    assert len(np.unique(r1r)) == 4
    assert not np.array_equal(r1r, palette_from_spec("r1r:4", HW))
    np.testing.assert_array_equal(palette_from_spec("r1r", HW), palette_from_spec("r1r:0", HW))
    rrnd = palette_from_spec("rrnd:1", (100, 100))
    assert set(np.unique(rrnd)) == set(range(5))
    np.testing.assert_array_equal(rrnd, palette_from_spec("rrnd:1", (100, 100)))


def test_semantic_rules(tmp_path):
    label = np.zeros(HW, np.uint8)
    label[:10] = VOC_CLASSES.index("person")
    label[10:20] = VOC_CLASSES.index("dog")
    label[20:, :5] = VOC_CLASSES.index("car")
    label[20:, 5:10] = 255
    Image.fromarray(label).save(tmp_path / "label.png")
    r2 = palette_from_spec("r2", HW, label=str(tmp_path / "label.png"))
    assert np.all(r2[:10] == PARTS) and np.all(r2[10:20] == SEMSEG)
    assert np.all(r2[20:, :5] == SALIENCY) and np.all(r2[20:, 5:] == EDGES)  # void and background
    r3 = palette_from_spec("r3", HW, label=label)
    assert np.all(r3[10:20] == SALIENCY) and np.all(r3[20:, :5] == NORMALS)
    with pytest.warns(UserWarning, match=r"small.png is 15x45, the image 30x45: resized \(nearest\)"):
        Image.fromarray(label[::2]).save(tmp_path / "small.png")
        small = palette_from_spec("r2", HW, label=str(tmp_path / "small.png"))
    assert np.all(small[:10] == PARTS)
    with pytest.raises(ValueError, match="needs a semseg label"):
        palette_from_spec("r3", HW)
    Image.fromarray(np.full(HW, 40, np.uint8)).save(tmp_path / "bad_label.png")
    with pytest.raises(ValueError, match=r"bad_label.png holds values \[40\] that are not VOC class ids"):
        palette_from_spec("r2", HW, label=str(tmp_path / "bad_label.png"))


def test_predicted_needs_a_palette_network():
    with pytest.raises(ValueError, match="needs --palette_model"):
        palette_from_spec("predicted", HW, image=np.zeros(HW + (3,), np.uint8))
    with pytest.warns(UserWarning, match=r"predicted palette is 15x20, the image 30x45"):
        half = palette_from_spec("predicted", HW, image=np.zeros(HW + (3,), np.uint8),
                                 palette_model=lambda image: np.full((15, 20), 3))
    assert half.shape == HW and np.all(half == SALIENCY)


def test_palette_pictures(tmp_path):
    ids = np.random.default_rng(0).integers(0, 5, HW)
    Image.fromarray(ids.astype(np.uint8), mode="L").save(tmp_path / "ids.png")
    np.testing.assert_array_equal(palette_from_spec(str(tmp_path / "ids.png"), HW), ids)
    Image.fromarray(TASK_COLOURS[ids]).save(tmp_path / "painted.png")
    np.testing.assert_array_equal(palette_from_spec(str(tmp_path / "painted.png"), HW), ids)
    rgba = np.concatenate([TASK_COLOURS[ids], np.full(HW + (1,), 128, np.uint8)], axis=-1)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "painted_rgba.png")
    np.testing.assert_array_equal(palette_from_spec(str(tmp_path / "painted_rgba.png"), HW), ids)
    # What write_palette_png writes reads back (mode P: index = id, colour = legend colour).
    write_palette_png(ids, str(tmp_path / "written.png"))
    assert Image.open(tmp_path / "written.png").mode == "P"
    np.testing.assert_array_equal(palette_from_spec(str(tmp_path / "written.png"), HW), ids)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "written.png").convert("RGB")),
                                  TASK_COLOURS[ids])
    with pytest.warns(UserWarning, match=r"ids.png is 30x45, the image 60x90: resized \(nearest\)"):
        big = palette_from_spec(str(tmp_path / "ids.png"), (60, 90))
    np.testing.assert_array_equal(big[::2, ::2], ids)


def test_bad_palette_pictures(tmp_path):
    painted = np.repeat(TASK_COLOURS[:1][None], HW[0], 0).repeat(HW[1], 1)
    painted[3, 7] = (1, 2, 3)
    Image.fromarray(painted).save(tmp_path / "stray.png")
    with pytest.raises(ValueError, match=r"stray.png: 1 pixels have colours that are not task legend "
                                         r"colours \(\(1, 2, 3\); first at row 3, column 7\)\. "
                                         r"Legend: semseg #e6194b"):
        palette_from_spec(str(tmp_path / "stray.png"), HW)
    ids = np.zeros(HW, np.uint8)
    ids[5, 6] = 5
    Image.fromarray(ids).save(tmp_path / "five.png")
    with pytest.raises(ValueError, match=r"five.png` must hold task ids in \[0, 5\).*"
                                         r"Received ids \[5\] \(first at row 5, column 6\)"):
        palette_from_spec(str(tmp_path / "five.png"), HW)
    with pytest.raises(FileNotFoundError, match="Palette file .*none.png does not exist"):
        PaletteSpec(str(tmp_path / "none.png"))
    (tmp_path / "junk.png").write_text("not a png")
    with pytest.raises(ValueError, match="Cannot read .*junk.png"):
        PaletteSpec(str(tmp_path / "junk.png"))
    with pytest.raises(ValueError, match="Cannot read the palette 'stripes'"):
        PaletteSpec("stripes")
    with pytest.raises(ValueError, match="rule s needs a task"):
        PaletteSpec("s")
    with pytest.raises(ValueError, match="Unknown task 'sky'"):
        PaletteSpec("s:sky")
    with pytest.raises(ValueError, match="seed of palette 'r1r:x' must be an integer"):
        PaletteSpec("r1r:x")


def _edit_file(tmp_path, value, name="edits.json"):
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


def test_edit_shapes(tmp_path):
    shapes = [
        {"shape": "rectangle", "task": "normals", "x0": 10, "y0": 5, "x1": 20, "y1": 12},
        {"shape": "circle", "task": "edges", "cx": 35.5, "cy": 20.5, "r": 3},
        {"shape": "polygon", "task": 0, "points": [[0, 20], [10, 20], [0, 30]]},
        {"shape": "brush", "task": "parts", "points": [[0, 2], [44, 2]], "width": 2,
         "comment": "a line across the top"},
        {"shape": "rectangle", "task": "semseg", "x0": 18, "y0": 10, "x1": 10, "y1": 5},
    ]
    palette = PaletteSpec("s:saliency", edits=read_edits(_edit_file(tmp_path, shapes))).palette(HW)
    before = PaletteSpec("s:saliency", edits=_edit_file(tmp_path, shapes)).palette(HW, edited=False)
    assert np.all(before == SALIENCY)
    # Later shapes over earlier ones: the last rectangle (corners in either order) covers
    # x 10..17, y 5..9 of the first one.
    assert np.all(palette[5:10, 10:18] == SEMSEG)
    assert np.all(palette[10:12, 10:20] == NORMALS) and np.all(palette[5:10, 18:20] == NORMALS)
    assert (palette == NORMALS).sum() == 10 * 7 - 8 * 5
    # Circle of radius 3 around a pixel centre: the 29 pixel centres within 3.
    assert (palette == EDGES).sum() == 29 and palette[20, 35] == EDGES and palette[20, 39] != EDGES
    # Triangle: the 45 pixel centres of its box below the diagonal.
    assert (palette[20:30, :10] == SEMSEG).sum() == 45 and (palette[20:, :10] == SEMSEG).sum() == 45
    # Brush of width 2 along y = 2: rows whose centres lie within 1 of it (rows 1 and 2).
    assert np.all(palette[1:3] == PARTS) and not np.any(palette[0] == PARTS)
    assert not np.any(palette[3:] == PARTS)


def test_polygon_and_base_from_file(tmp_path):
    path = _edit_file(tmp_path, {"base": "s:semseg", "shapes": [
        {"shape": "polygon", "task": "normals", "points": [[0, 20], [10, 20], [0, 30]]}]})
    palette = palette_from_spec(path, HW)
    rows, cols = np.mgrid[20:30, 0:10]
    expected = (cols + 0.5) + (rows + 0.5 - 20) < 10
    np.testing.assert_array_equal(palette[20:30, :10] == NORMALS, expected)
    assert (palette == NORMALS).sum() == expected.sum() == 45
    # An edit file whose base is itself is an error, not a loop.
    loop = _edit_file(tmp_path, {"base": str(tmp_path / "loop.json"), "shapes": []}, "loop.json")
    with pytest.raises(ValueError, match="names itself as its base"):
        PaletteSpec(loop)


@pytest.mark.parametrize("content, message", [
    ("{not json", r"is not valid JSON"),
    ({"base": "s:semseg"}, r"missing key 'shapes'"),
    ({"base": "s:semseg", "shapes": [], "colour": 1}, r"unknown key 'colour'"),
    ("[]", r"has no 'base' palette"),
    ([{"shape": "ellipse", "task": "edges"}], r"shapes\[0\]: unknown shape 'ellipse': use one of"),
    ([{"shape": "circle", "task": "edges", "cx": 1, "r": 2}], r"shapes\[0\] \(circle\): missing field 'cy'"),
    ([{"shape": "brush", "points": [[0, 0]], "width": 2}], r"shapes\[0\] \(brush\): missing field 'task'"),
    ([{"shape": "circle", "task": "edges", "cx": 1, "cy": 1, "r": 2},
      {"shape": "rectangle", "task": "sky", "x0": 0, "y0": 0, "x1": 1, "y1": 1}],
     r"shapes\[1\] \(rectangle\): Unknown task 'sky'"),
    ([{"shape": "rectangle", "task": 7, "x0": 0, "y0": 0, "x1": 1, "y1": 1}], r"Unknown task 7"),
    ([{"shape": "rectangle", "task": 1, "x0": 0, "y0": 0, "x1": 1, "y2": 1}], r"missing field 'y1'"),
    ([{"shape": "circle", "task": 1, "cx": 0, "cy": 0, "r": 1, "radius": 1}], r"unknown field 'radius'"),
    ([{"shape": "circle", "task": 1, "cx": "a", "cy": 0, "r": 1}], r"field 'cx' must be a number"),
    ([{"shape": "circle", "task": 1, "cx": 0, "cy": 0, "r": -1}], r"'r' must be positive"),
    ([{"shape": "polygon", "task": 1, "points": [[0, 0], [1, 1]]}], r"at least 3 \[x, y\] pairs"),
    ([{"shape": "brush", "task": 1, "points": [[0, 0, 1]], "width": 1}],
     r"points\[0\] must be an \[x, y\] pair"),
    (["rectangle"], r"shapes\[0\] must be an object"),
])
def test_bad_edit_files(tmp_path, content, message):
    path = _edit_file(tmp_path, content)
    with pytest.raises(ValueError, match=f"edits.json.*{message}"):
        if isinstance(content, (str, dict)):
            PaletteSpec(path)  # the edit file as the palette: its own base
        else:
            PaletteSpec("s:semseg", edits=path)


def test_user_images(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (30, 45, 3), dtype=np.uint8)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    grey = load_image(str(tmp_path / "grey.png"))
    assert grey.shape == (30, 45, 3) and np.all(grey[..., 2] == rgb[..., 0])
    rgba = np.concatenate([rgb, np.full((30, 45, 1), 255, np.uint8)], axis=-1)
    rgba[0, 0, 3] = 0  # transparent: drawn over white
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    loaded = load_image(str(tmp_path / "rgba.png"))
    assert tuple(loaded[0, 0]) == (255, 255, 255) and np.array_equal(loaded[1:], rgb[1:])
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    assert load_image(str(tmp_path / "p.png")).shape == (30, 45, 3)
    Image.fromarray((rgb[..., 1].astype(np.uint16) * 257)).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    np.testing.assert_array_equal(load_image(str(tmp_path / "sixteen.png"))[..., 0], rgb[..., 1])
    # EXIF orientation 6 (the camera was turned): the stored 30x45 picture is shown 45x30.
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = np.zeros((30, 45, 3), np.uint8)
    stored[:, :5] = 255  # a white band on the stored left edge ends up on top
    Image.fromarray(stored).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    upright = load_image(str(tmp_path / "rotated.jpg"))
    assert upright.shape == (45, 30, 3)
    assert upright[:5].mean() > 200 and upright[10:].mean() < 30

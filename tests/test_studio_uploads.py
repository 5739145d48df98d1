"""The studio's library side: uploads read by the library's readers (capped, named), and
the flood-fill shape that the page's Fill tool writes into edit files."""

import numpy as np
import pytest

from ct_keras.palettes import Edits
from ct_keras.studio.uploads import (
    MAX_SIDE, TooLarge, read_edits_upload, read_image_upload, read_palette_upload, safe_name,
)
from ct_keras.tasks import TASK_COLOURS, TASK_IDS
from tests.studio_helpers import photo, png


def test_fill_paints_the_connected_region_as_painted_so_far():
    palette = np.zeros((6, 8), np.int32)
    palette[:, 4] = TASK_IDS["edges"]  # a wall: the right side is another region
    edits = Edits([{"shape": "fill", "task": "normals", "x": 1.5, "y": 2},
                   {"shape": "rectangle", "task": "parts", "x0": 5, "y0": 0, "x1": 8, "y1": 3},
                   {"shape": "fill", "task": "saliency", "x": 6, "y": 1}])
    out = edits.apply(palette)
    assert (out[:, :4] == TASK_IDS["normals"]).all()
    assert (out[:, 4] == TASK_IDS["edges"]).all()
    assert (out[:3, 5:] == TASK_IDS["saliency"]).all()  # the rectangle just painted, filled
    assert (out[3:, 5:] == 0).all()
    assert (Edits([{"shape": "fill", "task": 1, "x": 99, "y": 0}]).apply(palette) == palette).all()


def test_fill_errors():
    with pytest.raises(ValueError, match=r"shapes\[0\] \(fill\): missing field 'y'"):
        Edits([{"shape": "fill", "task": 1, "x": 3}])


def test_image_upload_is_read_like_a_file():
    rgb = photo(20, 30)
    np.testing.assert_array_equal(read_image_upload(png(rgb), "a.png"), rgb)
    grey = read_image_upload(png(rgb[..., 0]), "grey.png")
    assert grey.shape == (20, 30, 3)


def test_upload_errors_name_the_upload_not_a_temporary_path():
    with pytest.raises(ValueError, match=r"^notes\.txt is not an image") as e:
        read_image_upload(b"hello", "../../notes.txt")
    assert "ct_studio_" not in str(e.value)
    with pytest.raises(TooLarge, match=f"{MAX_SIDE + 1} × 1 pixels"):
        read_image_upload(png(np.zeros((1, MAX_SIDE + 1), np.uint8)), "wide.png")
    with pytest.raises(ValueError, match=r"palette file odd\.png: 1 pixels have colours"):
        rgb = TASK_COLOURS[np.zeros((4, 4), np.int64)]
        rgb[0, 0] = (9, 9, 9)
        read_palette_upload(png(rgb), "odd.png")
    with pytest.raises(ValueError, match="is not a palette file"):
        read_palette_upload(b"x", "palette.jpg")
    with pytest.raises(ValueError, match=r"Edit file e\.json is not valid JSON"):
        read_edits_upload(b"{", "e.json")


def test_palette_upload_in_ids_and_colours():
    ids = np.arange(20).reshape(4, 5) % 5
    np.testing.assert_array_equal(read_palette_upload(png(ids.astype(np.uint8)), "ids.png"), ids)
    np.testing.assert_array_equal(read_palette_upload(png(TASK_COLOURS[ids]), "rgb.png"), ids)


def test_safe_name():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\photos\\my photo.jpg") == "my_photo.jpg"
    assert safe_name("") == "upload"

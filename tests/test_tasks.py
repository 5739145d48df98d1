import numpy as np
import pytest

from ct_keras import tasks


def test_ids_and_names_are_stable():
    assert tasks.TASK_IDS == {"semseg": 0, "parts": 1, "edges": 2, "saliency": 3, "normals": 4}
    assert len(tasks.VOC_CLASSES) == 21 and tasks.VOC_CLASSES[15] == "person"
    assert sorted(tasks.REFERENCE_SEMSEG_ORDER) == sorted(tasks.VOC_CLASSES)
    assert len(tasks.PART_CLASSES) == 7


def test_task_codes_are_unit_blocks():
    codes = tasks.task_codes(5, 20)
    assert codes.shape == (5, 100)
    np.testing.assert_allclose(np.linalg.norm(codes, axis=1), 1.0, rtol=1e-6)
    for k in range(5):
        assert np.all(codes[k, 20 * k:20 * (k + 1)] > 0) and np.count_nonzero(codes[k]) == 20


def test_anchors_are_distinct_and_tied_to_names():
    for task in (tasks.SEMSEG, tasks.PARTS):
        a = tasks.anchor_matrix(task)
        assert len({tuple(r) for r in a}) == len(a)
        assert np.all((a >= 0) & (a <= 1))
    # Reordering a table by name does not change which class an anchor belongs to.
    shuffled = dict(reversed(list(tasks.SEMSEG_ANCHORS.items())))
    np.testing.assert_array_equal(tasks.anchor_matrix(tasks.SEMSEG, shuffled),
                                  tasks.anchor_matrix(tasks.SEMSEG))
    with pytest.raises(ValueError, match="missing for classes"):
        tasks.anchor_matrix(tasks.PARTS, {"background": (0, 0, 0)})


def test_colourmap_files_are_read_by_name(tmp_path):
    rng = np.random.default_rng(0)
    colours = rng.choice(256, (21, 3), replace=False).astype(int)
    path = tmp_path / "colourmap_seg21.txt"
    np.savetxt(path, colours[:, ::-1], fmt="%d", delimiter="\t")  # stored as B, G, R
    anchors = tasks.anchors_from_colourmap(str(path), tasks.SEMSEG)
    row_of_cat = tasks.REFERENCE_SEMSEG_ORDER.index("cat")
    assert anchors["cat"] == tuple(colours[row_of_cat])
    a = tasks.anchor_matrix(tasks.SEMSEG, anchors)
    np.testing.assert_allclose(a[tasks.VOC_CLASSES.index("cat")] * 255, colours[row_of_cat])
    np.savetxt(path, colours[:5], fmt="%d", delimiter="\t")
    with pytest.raises(ValueError, match=r"colourmap_seg21.txt must have 21 rows"):
        tasks.anchors_from_colourmap(str(path), tasks.SEMSEG)


def _logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def test_decode_each_task():
    anchors = tasks.anchor_matrix(tasks.SEMSEG)
    raw = _logit(anchors[[3, 15, 0]])[None]  # [1, 3, 3]
    np.testing.assert_array_equal(tasks.decode(raw, tasks.SEMSEG), [[3, 15, 0]])
    raw_parts = _logit(tasks.anchor_matrix(tasks.PARTS)[[6, 1]])[None]
    np.testing.assert_array_equal(tasks.decode(raw_parts, tasks.PARTS), [[6, 1]])
    prob = tasks.decode(np.array([[0.0, 0.0, 0.0], [100, 100, 100]]), tasks.EDGES)
    np.testing.assert_allclose(prob, [0.5, 1.0])
    n = tasks.decode(np.array([[3.0, 0.0, 4.0]]), tasks.NORMALS)
    np.testing.assert_allclose(n, [[0.6, 0.0, 0.8]])
    with pytest.raises(ValueError, match=r"`task` must be in \[0, 5\). Received 9"):
        tasks.decode(raw, 9)


def test_decode_composite_and_pictures():
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(4, 4, 3))
    palette = np.array([[0, 1, 2, 3]] * 2 + [[4, 4, 0, 0]] * 2)
    out = tasks.decode_composite(raw, palette)
    assert out["semseg"][0, 1] == 255 and out["semseg"][0, 0] != 255
    assert out["edges"][0, 0] == -1 and 0 < out["edges"][0, 2] < 1
    np.testing.assert_allclose(np.linalg.norm(out["normals"][2, 0]), 1, rtol=1e-6)
    assert np.all(out["normals"][0, 0] == 0)
    picture = tasks.colourise(raw, palette)
    assert picture.shape == (4, 4, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(tasks.colourise_palette(palette)[0, 0], tasks.TASK_COLOURS[0])
    with pytest.raises(ValueError, match=r"Received ids in \[0, 7\]"):
        tasks.colourise_palette(np.array([[0, 7]]))


@pytest.mark.parametrize("task", range(5))
def test_decode_tensor_equals_numpy_decode(task):
    from ct_keras.decoding import decode_tensor

    raw = np.random.default_rng(task).normal(0, 2, (2, 8, 8, 3)).astype(np.float32)
    got = np.asarray(decode_tensor(raw, task))
    want = tasks.decode(raw, task)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, atol=1e-6)

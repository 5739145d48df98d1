import json

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


# The paper's supplementary Table 5 (semseg) and Table 6 (parts), copied here by class
# name and channel x1 x2 x3, independently of ct_keras.tasks.
TABLE_5 = """
Background 0 0 0 | Cat 0 0 64 | Aeroplane 0 0 128 | Chair 0 0 192 | Potted plant 0 64 0 |
Sheep 0 64 128 | Bicycle 0 128 0 | Cow 0 128 64 | Bird 0 128 128 | Dining table 0 128 192 |
Sofa 0 192 0 | Train 0 192 128 | Boat 128 0 0 | Dog 128 0 64 | Bottle 128 0 128 |
Horse 128 0 192 | TV monitor 128 64 0 | Bus 128 128 0 | Motorbike 128 128 64 | Car 128 128 128 |
Person 128 128 192
"""
TABLE_6 = """
Background 0 0 0 | Head 0 0 255 | Neck & torso 0 255 0 | Upper arms 255 0 0 | Lower arms 0 255 255 |
Upper legs 255 0 255 | Lower legs 255 255 0
"""
OUR_NAMES = {"Potted plant": "pottedplant", "Dining table": "diningtable", "TV monitor": "tvmonitor",
             "Neck & torso": "torso", "Upper arms": "upper_arms", "Lower arms": "lower_arms",
             "Upper legs": "upper_legs", "Lower legs": "lower_legs"}


def _table(text):
    rows = {}
    for entry in text.replace("\n", " ").split("|"):
        *words, x1, x2, x3 = entry.split()
        name = " ".join(words)
        rows[OUR_NAMES.get(name, name.lower())] = [int(x1), int(x2), int(x3)]
    return rows


def _reversed(table):
    return {name: value[::-1] for name, value in table.items()}


def test_default_anchors_are_the_papers_tables_5_and_6():
    """Tables 5/6 by name, in output-channel order: the printed rows reversed, as the
    authors' code reverses its colour-map rows (which the tables print verbatim)."""
    table_5, table_6 = _table(TABLE_5), _table(TABLE_6)
    assert len(table_5) == 21 and len(table_6) == 7
    assert {k: list(v) for k, v in tasks.PAPER_TABLE_5.items()} == table_5
    assert {k: list(v) for k, v in tasks.PAPER_TABLE_6.items()} == table_6
    assert tasks.paper_anchors() == {"semseg": _reversed(table_5), "parts": _reversed(table_6)}
    for task, table in ((tasks.SEMSEG, table_5), (tasks.PARTS, table_6)):
        a = tasks.anchor_matrix(task)  # rows in our (VOC) class order, 0..1
        for i, name in enumerate(tasks.CLASS_NAMES[task]):
            np.testing.assert_allclose(a[i] * 255, table[name][::-1], atol=1e-4)
        np.testing.assert_array_equal(tasks.class_colours(task),
                                      [table[n][::-1] for n in tasks.CLASS_NAMES[task]])
    # Person: printed 128 128 192, VOC's pink (192, 128, 128) on the output channels.
    np.testing.assert_allclose(tasks.anchor_matrix(tasks.SEMSEG)[tasks.VOC_CLASSES.index("person")],
                               [192 / 255, 128 / 255, 128 / 255], rtol=1e-6)
    np.testing.assert_array_equal(tasks.class_colours(tasks.SEMSEG), tasks.voc_colours(21))


def test_the_authors_colour_maps_give_the_default_anchors(tmp_path):
    """An authors' checkpoint decodes with our defaults: their colour-map files (the
    tables' rows, tab-separated) read the way their code reads them give the defaults."""
    for task, table, name in ((tasks.SEMSEG, _table(TABLE_5), "colourmap_seg21.txt"),
                              (tasks.PARTS, _table(TABLE_6), "colourmap_parts7.txt")):
        order = tasks.REFERENCE_SEMSEG_ORDER if task == tasks.SEMSEG else tasks.REFERENCE_PARTS_ORDER
        path = tmp_path / name
        path.write_text("".join("\t".join(str(v) for v in table[c]) + "\n" for c in order))
        read = tasks.anchors_from_colourmap(str(path), task)
        assert {k: list(v) for k, v in read.items()} == tasks.paper_anchors()[tasks.TASK_NAMES[task]]


def test_anchors_are_tied_to_names_and_checked():
    paper = tasks.paper_anchors()
    # Reordering a table by name does not change which class an anchor belongs to.
    shuffled = {"semseg": dict(reversed(list(paper["semseg"].items()))), "parts": paper["parts"]}
    np.testing.assert_array_equal(tasks.anchor_matrix(tasks.SEMSEG, shuffled),
                                  tasks.anchor_matrix(tasks.SEMSEG))
    # A task left out keeps the paper's; values come back as plain JSON-safe lists.
    only_parts = {"parts": {**paper["parts"], "head": (1, 2.5, 3)}}
    checked = tasks.check_anchors(only_parts)
    assert checked["semseg"] == paper["semseg"] and checked["parts"]["head"] == [1, 2.5, 3]
    assert json.loads(json.dumps(checked)) == checked
    bad = [
        ({"parts": {"background": (0, 0, 0)}}, r"parts anchors are missing for classes \['head'"),
        ({"parts": {**paper["parts"], "head": (0, 0, 256)}}, r"parts class 'head'.*0..255. Received \[0, 0, 256\]"),
        ({"parts": {**paper["parts"], "torso": (0, 255)}}, r"parts class 'torso': an anchor is 3 numbers"),
        ({"parts": {**paper["parts"], "torso": "red"}}, r"parts class 'torso': an anchor is 3 numbers"),
        ({"parts": {**paper["parts"], "tail": (1, 1, 1)}}, r"unknown parts classes \['tail'\]"),
        ({"parts": {**paper["parts"], "torso": (255, 0, 0)}}, r"'head' and 'torso' have the same anchor"),
        ({"edges": {}}, r"only \('semseg', 'parts'\) have class anchors"),
        (paper["semseg"], r"given per task"),
    ]
    for anchors, message in bad:
        with pytest.raises(ValueError, match=message):
            tasks.check_anchors(anchors)


def test_read_anchors_from_files(tmp_path):
    paper = tasks.paper_anchors()
    assert tasks.read_anchors("paper") == paper
    mine = {"semseg": {**paper["semseg"], "cat": [10, 20, 30]}}
    path = tmp_path / "anchors.json"
    path.write_text(json.dumps(mine))
    got = tasks.read_anchors(str(path))
    assert got["semseg"]["cat"] == [10, 20, 30] and got["parts"] == paper["parts"]
    # The reference's colour maps (B, G, R rows in its class order), told apart by row count.
    rng = np.random.default_rng(0)
    seg, parts = rng.choice(256, (21, 3), replace=False), rng.choice(256, (7, 3), replace=False)
    seg_file, parts_file = tmp_path / "colourmap_seg21.txt", tmp_path / "colourmap_parts7.txt"
    np.savetxt(seg_file, seg, fmt="%d", delimiter="\t")
    np.savetxt(parts_file, parts, fmt="%d", delimiter="\t")
    got = tasks.read_anchors(f"{parts_file},{seg_file}")
    assert got["semseg"]["cat"] == seg[tasks.REFERENCE_SEMSEG_ORDER.index("cat")][::-1].tolist()
    assert got["parts"]["head"] == parts[1][::-1].tolist()
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "five.txt").write_text("0\t0\t0\n" * 5)
    (tmp_path / "missing.json").write_text(json.dumps({"parts": {"background": [0, 0, 0]}}))
    for spec, error, message in [
        (str(tmp_path / "nope.json"), FileNotFoundError, "nope.json does not exist"),
        (str(tmp_path / "bad.json"), ValueError, "bad.json is not JSON"),
        (str(tmp_path / "list.json"), ValueError, "list.json must hold a JSON object"),
        (str(tmp_path / "five.txt"), ValueError, r"five.txt must have 21 \(semseg\) or 7 \(parts\) rows"),
        (str(tmp_path / "missing.json"), ValueError, r"missing.json: parts anchors are missing for classes"),
        (f"{seg_file},{seg_file}", ValueError, r"gives \['semseg'\] anchors a second time"),
    ]:
        with pytest.raises(error, match=message):
            tasks.read_anchors(spec)


def test_colourmap_files_are_read_by_name(tmp_path):
    rng = np.random.default_rng(0)
    colours = rng.choice(256, (21, 3), replace=False).astype(int)
    path = tmp_path / "colourmap_seg21.txt"
    np.savetxt(path, colours[:, ::-1], fmt="%d", delimiter="\t")  # stored as B, G, R
    anchors = tasks.anchors_from_colourmap(str(path), tasks.SEMSEG)
    row_of_cat = tasks.REFERENCE_SEMSEG_ORDER.index("cat")
    assert anchors["cat"] == tuple(colours[row_of_cat])
    a = tasks.anchor_matrix(tasks.SEMSEG, {"semseg": anchors})
    np.testing.assert_allclose(a[tasks.VOC_CLASSES.index("cat")] * 255, colours[row_of_cat])
    np.savetxt(path, colours[:5], fmt="%d", delimiter="\t")
    with pytest.raises(ValueError, match=r"colourmap_seg21.txt must have 21 rows"):
        tasks.anchors_from_colourmap(str(path), tasks.SEMSEG)


def test_table_5_is_the_voc_palette_written_b_g_r():
    # Why `anchors_from_colourmap` reverses rows: Table 5 (= the reference's colour map
    # rows) is VOC's RGB palette with the channels reversed.
    voc = tasks.voc_colours(21)
    for i, name in enumerate(tasks.VOC_CLASSES):
        assert _table(TABLE_5)[name] == voc[i][::-1].tolist(), name


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
    with pytest.raises(ValueError, match=r"Received ids \[7\] \(first at row 0, column 1\)"):
        tasks.colourise_palette(np.array([[0, 7]]))


def test_pictures_draw_classes_in_their_anchor_colours():
    paper = tasks.paper_anchors()
    person = paper["semseg"]["person"]
    raw = _logit(np.array([[person]]) / 255.0)  # exactly the person anchor
    palette = np.zeros((1, 1), int)
    assert tasks.decode(raw, tasks.SEMSEG)[0, 0] == tasks.VOC_CLASSES.index("person")
    assert tasks.colourise(raw, palette)[0, 0].tolist() == person  # 128 128 192 (Table 5)
    # Other anchors: the same output decodes to another class, drawn in that class's anchor.
    swapped = {"semseg": {**paper["semseg"], "person": paper["semseg"]["cat"], "cat": person}}
    assert tasks.decode(raw, tasks.SEMSEG, swapped)[0, 0] == tasks.VOC_CLASSES.index("cat")
    assert tasks.colourise(raw, palette, swapped)[0, 0].tolist() == person
    assert tasks.decode_composite(raw, palette, swapped)["semseg"][0, 0] == tasks.VOC_CLASSES.index("cat")


@pytest.mark.parametrize("task", range(5))
def test_decode_tensor_equals_numpy_decode(task):
    from ct_keras.decoding import decode_tensor

    raw = np.random.default_rng(task).normal(0, 2, (2, 8, 8, 3)).astype(np.float32)
    got = np.asarray(decode_tensor(raw, task))
    want = tasks.decode(raw, task)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, atol=1e-6)
    if task in (tasks.SEMSEG, tasks.PARTS):  # other anchors: the same in both, and not the paper's
        name = tasks.TASK_NAMES[task]
        table = tasks.paper_anchors()[name]
        names = list(table)
        rotated = {name: {n: table[names[(i + 1) % len(names)]] for i, n in enumerate(names)}}
        want_rotated = tasks.decode(raw, task, rotated)
        np.testing.assert_array_equal(np.asarray(decode_tensor(raw, task, rotated)), want_rotated)
        assert np.mean(want_rotated != want) > 0.5

"""The raw readers, on the synthetic set and on hand-made files in the real nestings."""

import numpy as np
import pytest
import scipy.io

from ct_keras.data.pascal_context import (
    NORMALS_VALID_CONTEXT_IDS, VOC_TO_CONTEXT, normals_validity, read_label_map,
)
from ct_keras.data.layout import detect_layout, open_pascal_mt
from ct_keras.data.pascal_mt import SAMPLE_KEYS
from ct_keras.data.pascal_part import parts_from_mat
from ct_keras.tasks import VOC_CLASSES

from tests.data.conftest import NUM_TRAIN, NUM_VAL


def _part_struct(parts):
    array = np.zeros((1, len(parts)), [("part_name", "O"), ("mask", "O")])
    for j, (name, mask) in enumerate(parts):
        array[0, j] = (name, mask.astype(np.uint8))
    return array if parts else np.zeros((0, 0))


def _write_anno(path, objects, shape=(6, 8)):
    """A PASCAL-Part file as `savemat` writes MATLAB's nesting: anno(1,1).objects(1,N).parts(1,M)."""
    objs = np.zeros((1, len(objects)), [("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")])
    for i, (name, parts) in enumerate(objects):
        mask = np.zeros(shape, np.uint8)
        for _, m in parts:
            mask |= m.astype(np.uint8)
        objs[0, i] = (name, np.array([[float(VOC_CLASSES.index(name))]]), mask, _part_struct(parts))
    anno = np.zeros((1, 1), [("imname", "O"), ("objects", "O")])
    anno[0, 0] = ("2008_000001", objs)
    scipy.io.savemat(path, {"anno": anno})


def _mask(shape, rows, cols):
    m = np.zeros(shape, bool)
    m[rows, cols] = True
    return m


def test_parts_group_person_parts_and_ignore_other_classes(tmp_path):
    shape = (6, 8)
    path = str(tmp_path / "a.mat")
    _write_anno(path, [
        ("car", [("wheel_1", _mask(shape, slice(4, 6), slice(0, 2)))]),
        ("person", [
            ("hair", _mask(shape, 0, slice(4, 6))), ("nose", _mask(shape, 1, 4)),
            ("neck", _mask(shape, 1, 5)), ("rlarm", _mask(shape, 2, 6)), ("lhand", _mask(shape, 2, 3)),
            ("luleg", _mask(shape, 3, 4)), ("rfoot", _mask(shape, 5, 5)),
        ]),
    ], shape)
    parts = parts_from_mat(path, *shape)
    assert parts.dtype == np.uint8
    assert parts[0, 4] == parts[1, 4] == 1  # hair, nose → head
    assert parts[1, 5] == 2  # neck → torso
    assert parts[2, 6] == parts[2, 3] == 4  # lower arm and hand → lower arms
    assert parts[3, 4] == 5 and parts[5, 5] == 6
    assert parts[5, 0] == 0  # the car's wheel is not a human part
    assert set(np.unique(parts)) == {0, 1, 2, 4, 5, 6}


def test_parts_without_a_person_with_parts_are_all_ignore(tmp_path):
    path = str(tmp_path / "b.mat")
    _write_anno(path, [("dog", []), ("person", [])])
    assert (parts_from_mat(path, 6, 8) == 255).all()


def test_unknown_part_name_names_the_file(tmp_path):
    path = str(tmp_path / "c.mat")
    _write_anno(path, [("person", [("tail", _mask((6, 8), 0, 0))])])
    with pytest.raises(ValueError, match=r"Unknown person part name 'tail'.*c\.mat"):
        parts_from_mat(path, 6, 8)


def test_context_label_map_and_normals_validity(tmp_path):
    path = str(tmp_path / "ctx.mat")
    label_map = np.array([[440, 360], [284, 2]], np.uint16)  # wall, sky, person, aeroplane
    scipy.io.savemat(path, {"LabelMap": label_map})
    read = read_label_map(path)
    assert read.dtype == np.int32 and np.array_equal(read, label_map)
    assert np.array_equal(normals_validity(read, NORMALS_VALID_CONTEXT_IDS), [[1, 0], [1, 0]])
    scipy.io.savemat(path, {"Other": label_map})
    with pytest.raises(ValueError, match=r"Expected variable `LabelMap`.*ctx\.mat"):
        read_label_map(path)


def test_voc_to_context_names_match():
    # Context ids of a few VOC classes (Context's labels.txt): person 284, tvmonitor 427.
    assert VOC_TO_CONTEXT[VOC_CLASSES.index("person")] == 284
    assert VOC_TO_CONTEXT[VOC_CLASSES.index("tvmonitor")] == 427
    assert 427 in NORMALS_VALID_CONTEXT_IDS and 360 not in NORMALS_VALID_CONTEXT_IDS


def test_astmt_reader_on_synthetic_set(synthetic_dir):
    assert detect_layout(synthetic_dir) == "astmt"
    train, val = open_pascal_mt(synthetic_dir, "train"), open_pascal_mt(synthetic_dir, "val")
    assert (len(train), len(val)) == (NUM_TRAIN, NUM_VAL)
    saw_person = saw_no_person = False
    for index in range(len(train)):
        sample = train.read(index)
        assert set(sample) == set(SAMPLE_KEYS)
        h, w = sample["image"].shape[:2]
        for key, value in sample.items():
            assert value.dtype == np.uint8 and value.shape[:2] == (h, w), key
        assert set(np.unique(sample["semseg"])) <= set(range(21)) | {255}
        assert set(np.unique(sample["edges"])) <= {0, 1} and sample["edges"].any()
        assert set(np.unique(sample["saliency"])) <= {0, 1} and sample["saliency"].any()
        person = (sample["semseg"] == VOC_CLASSES.index("person")).any()
        if person:
            saw_person = True
            assert set(np.unique(sample["parts"])) - {0} <= set(range(1, 7)) and sample["parts"].max() > 0
            assert (sample["parts"][sample["semseg"] == 0] == 0).all()
        else:
            saw_no_person = True
            assert (sample["parts"] == 255).all()
    assert saw_person and saw_no_person


def test_semseg_falls_back_to_pascal_context_folder(writable_copy):
    import os
    import shutil

    reader = open_pascal_mt(writable_copy, "val")
    image_id, before = reader.ids[0], reader.read(0)["semseg"]
    fallback = os.path.join(writable_copy, "semseg", "pascal-context")
    os.makedirs(fallback)
    shutil.move(os.path.join(writable_copy, "semseg", "VOC12", f"{image_id}.png"), fallback)
    reader = open_pascal_mt(writable_copy, "val")
    assert reader.files(image_id)["semseg"].startswith(fallback)
    assert np.array_equal(reader.read(0)["semseg"], before)

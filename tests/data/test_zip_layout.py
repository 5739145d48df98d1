"""The reference's PASCAL_MT.zip packaging: colour-coded labels decoded by class name."""

import json
import logging
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from ct_keras.data.dataset import make_dataset
from ct_keras.data.pascal_context import read_label_map
from ct_keras.data.layout import detect_layout, open_pascal_mt
from ct_keras.tasks import PART_CLASSES, REFERENCE_SEMSEG_ORDER, VOC_CLASSES

# Distinct colours, one per row of the reference's colour map (rows in its class order).
SEG_COLOURS = [(12 * i, 250 - 11 * i, (97 * i) % 256) for i in range(21)]
PART_COLOURS = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)]


def _write_colourmap(path, colours):
    # The files store B, G, R.
    with open(path, "w") as f:
        f.write("".join("\t".join(str(v) for v in colour[::-1]) + "\n" for colour in colours))


def _voc_to_colour():
    lut = np.zeros((256, 3), np.uint8)
    for voc_id, name in enumerate(VOC_CLASSES):
        lut[voc_id] = SEG_COLOURS[REFERENCE_SEMSEG_ORDER.index(name)]
    lut[255] = lut[0]  # the zip has no void label
    return lut


def to_zip_layout(astmt_dir, out_dir):
    """Repackages a synthetic ASTMT folder the way PASCAL_MT.zip stores it."""
    shutil.copytree(os.path.join(astmt_dir, "JPEGImages"), os.path.join(out_dir, "JPEGImages"))
    shutil.copytree(os.path.join(astmt_dir, "ImageSets"), os.path.join(out_dir, "ImageSets"))
    shutil.copytree(os.path.join(astmt_dir, "pascal-context"), os.path.join(out_dir, "pascal-context"))
    shutil.copytree(os.path.join(astmt_dir, "normals_distill"), os.path.join(out_dir, "normals_distilled"))
    shutil.copytree(os.path.join(astmt_dir, "sal_distill"), os.path.join(out_dir, "saliency_distilled"))
    for folder in ("semantic_segmentation", "human_parts", "colourmaps", "json"):
        os.makedirs(os.path.join(out_dir, folder))
    _write_colourmap(os.path.join(out_dir, "colourmaps", "colourmap_seg21.txt"), SEG_COLOURS)
    _write_colourmap(os.path.join(out_dir, "colourmaps", "colourmap_parts7.txt"), PART_COLOURS)
    with open(os.path.join(out_dir, "json", "nyu_classes.json"), "w") as f:
        json.dump({"wall": 21, "person": 331, "unknown": 20}, f)
    with open(os.path.join(out_dir, "json", "context_classes.json"), "w") as f:
        json.dump({"wall": 440, "person": 284, "tvmonitor": 427, "unknown": 431}, f)
    reader = open_pascal_mt(astmt_dir, "train"), open_pascal_mt(astmt_dir, "val")
    for split_reader in reader:
        for index, sample in split_reader.samples():
            image_id = split_reader.ids[index]
            semseg = _voc_to_colour()[sample["semseg"]]
            parts = np.array(PART_COLOURS, np.uint8)[np.where(sample["parts"] == 255, 0, sample["parts"])]
            Image.fromarray(semseg).save(os.path.join(out_dir, "semantic_segmentation", f"{image_id}.png"))
            Image.fromarray(parts).save(os.path.join(out_dir, "human_parts", f"{image_id}.png"))
    return out_dir


@pytest.fixture
def zip_dir(synthetic_dir, tmp_path):
    return to_zip_layout(synthetic_dir, str(tmp_path / "PASCAL_MT"))


def test_zip_layout_decodes_colours_by_class_name(zip_dir, synthetic_dir):
    assert detect_layout(zip_dir) == "zip"
    astmt, packed = open_pascal_mt(synthetic_dir, "train"), open_pascal_mt(zip_dir, "train")
    assert astmt.ids == packed.ids
    for index in range(len(astmt)):
        a, z = astmt.read(index), packed.read(index)
        labelled = a["semseg"] != 255
        assert np.array_equal(z["semseg"][labelled], a["semseg"][labelled])
        assert np.array_equal(z["parts"], a["parts"])
        for key in ("image", "edges", "saliency", "normals"):
            assert np.array_equal(z[key], a[key]), key
    # The json files of this folder make only wall, person and tvmonitor valid.
    for index in range(len(packed)):
        label_map = read_label_map(packed.files(packed.ids[index])["context"])
        expected = np.isin(label_map, [440, 284, 427]).astype(np.uint8)
        assert np.array_equal(packed.read(index)["normals_valid"], expected)


def test_colour_of_a_reference_row_maps_to_the_voc_id_of_its_name(zip_dir):
    reader = open_pascal_mt(zip_dir, "val")
    image_id = reader.ids[0]
    path = os.path.join(zip_dir, "semantic_segmentation", f"{image_id}.png")
    label = np.array(Image.open(path))
    # Row 1 of the reference's map is 'cat', VOC id 8; row 20 is 'person', VOC id 15.
    label[0, 0], label[0, 1] = SEG_COLOURS[1], SEG_COLOURS[20]
    Image.fromarray(label).save(path)
    semseg = reader.read(0)["semseg"]
    assert semseg[0, 0] == VOC_CLASSES.index("cat") == 8
    assert semseg[0, 1] == VOC_CLASSES.index("person") == 15
    parts_path = os.path.join(zip_dir, "human_parts", f"{image_id}.png")
    parts = np.array(Image.open(parts_path))
    parts[1, 1] = PART_COLOURS[3]
    Image.fromarray(parts).save(parts_path)
    assert reader.read(0)["parts"][1, 1] == PART_CLASSES.index("upper_arms")


def test_label_colour_outside_the_map_names_the_file(zip_dir, caplog):
    reader = open_pascal_mt(zip_dir, "val")
    path = os.path.join(zip_dir, "semantic_segmentation", f"{reader.ids[1]}.png")
    label = np.array(Image.open(path))
    label[2, 3] = (1, 2, 3)
    Image.fromarray(label).save(path)
    with pytest.raises(ValueError, match=r"Label colour \(1, 2, 3\) at \(row 2, col 3\).*" + reader.ids[1]):
        reader.read(1)
    with caplog.at_level(logging.WARNING, logger="ct_keras.data"):
        batches = list(make_dataset(zip_dir, "val", rule="r2", image_size=(32, 32), batch_size=8,
                                    skip_bad_samples=True))
    assert batches[0][0]["image"].shape[0] == len(reader) - 1
    assert any("(1 so far)" in r.getMessage() and reader.ids[1] in r.getMessage() for r in caplog.records)

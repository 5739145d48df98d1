"""Every bad input is an error that names the file; `skip_bad_samples` counts and skips."""

import logging
import os
import shutil

import pytest
import tensorflow as tf

from ct_keras.data.dataset import make_dataset
from ct_keras.data.layout import open_pascal_mt
from ct_keras.data.tfrecords import build_tfrecords


def test_missing_data_folder(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"Data folder not found: .*nowhere"):
        make_dataset(missing, "train")


def test_missing_label_folder_names_it(writable_copy):
    shutil.rmtree(os.path.join(writable_copy, "sal_distill"))
    with pytest.raises(ValueError, match=r"Missing folder of the ASTMT layout: .*sal_distill"):
        open_pascal_mt(writable_copy, "train")


def test_missing_split_file_lists_the_splits_found(writable_copy):
    with pytest.raises(ValueError, match=r"Missing split file \(splits found: \['train', 'val'\]\): .*test\.txt"):
        open_pascal_mt(writable_copy, "test")


def test_split_file_naming_a_missing_image(writable_copy, caplog):
    split_file = os.path.join(writable_copy, "ImageSets", "Context", "val.txt")
    with open(split_file, "a") as f:
        f.write("2099_000042\n")
    with pytest.raises(ValueError, match=r"val\.txt names image '2099_000042', but a file is missing: "
                                         r".*JPEGImages.2099_000042\.jpg"):
        open_pascal_mt(writable_copy, "val")
    with caplog.at_level(logging.WARNING, logger="ct_keras.data"):
        reader = open_pascal_mt(writable_copy, "val", skip_bad_samples=True)
    assert "2099_000042" not in reader.ids and reader.skipped.count == 1
    assert any("2099_000042" in r.getMessage() and "(1 so far)" in r.getMessage() for r in caplog.records)


def _break_jpeg(data_dir, split, index):
    reader = open_pascal_mt(data_dir, split)
    path = reader.files(reader.ids[index])["image"]
    with open(path, "wb") as f:
        f.write(b"not a jpeg")
    return reader, path


def test_unreadable_jpeg_names_the_file(writable_copy):
    reader, path = _break_jpeg(writable_copy, "val", 2)
    with pytest.raises(ValueError, match=r"Cannot decode image: " + path):
        reader.read(2)
    # In the tf.data pipeline the same message travels inside TF's error.
    with pytest.raises(tf.errors.OpError, match=r"Cannot decode image: " + path):
        list(make_dataset(writable_copy, "val", image_size=(32, 32), batch_size=2))


def test_skip_bad_samples_counts_and_drops_broken_images(writable_copy, caplog, tmp_path):
    reader, path = _break_jpeg(writable_copy, "val", 2)
    with caplog.at_level(logging.WARNING, logger="ct_keras.data"):
        batches = list(make_dataset(writable_copy, "val", image_size=(32, 32), batch_size=10,
                                    skip_bad_samples=True))
    assert batches[0][0]["image"].shape[0] == len(reader) - 1
    assert any(path in r.getMessage() and "(1 so far)" in r.getMessage() for r in caplog.records)

    with pytest.raises(ValueError, match=r"Cannot decode image: " + path):
        build_tfrecords(writable_copy, str(tmp_path / "tfr"), splits=("val",), progress=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ct_keras.data"):
        meta = build_tfrecords(writable_copy, str(tmp_path / "tfr2"), splits=("val",), progress=False,
                               skip_bad_samples=True)
    assert meta["splits"]["val"]["num_skipped"] == 1
    assert any("Skipped 1 bad val sample(s) in total" in r.getMessage() for r in caplog.records)
    records = list(make_dataset(str(tmp_path / "tfr2"), "val", image_size=(32, 32), batch_size=10))
    assert records[0][0]["image"].shape[0] == len(reader) - 1


def test_corrupt_mat_file_names_the_file(writable_copy):
    reader = open_pascal_mt(writable_copy, "train")
    path = reader.files(reader.ids[0])["parts"]
    with open(path, "wb") as f:
        f.write(b"\x00" * 200)
    with pytest.raises(ValueError, match=r"Cannot read \.mat file .*: " + path):
        reader.read(0)


def test_truncated_png_label_names_the_file(writable_copy):
    reader = open_pascal_mt(writable_copy, "train")
    path = reader.files(reader.ids[1])["semseg"]
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])  # a download cut off half-way
    with pytest.raises(ValueError, match=r"Cannot decode PNG .*: " + path):
        reader.read(1)
    reader.read(0)  # the others still read


def test_an_empty_split_file_is_an_error_naming_it(writable_copy):
    split_file = os.path.join(writable_copy, "ImageSets", "Context", "val.txt")
    with open(split_file, "w") as f:
        f.write("\n")
    with pytest.raises(ValueError, match=r"Split file lists no images: " + split_file):
        open_pascal_mt(writable_copy, "val")

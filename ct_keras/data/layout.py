"""Which packaging a PASCAL-MT folder holds, and the reader for it.

Data flows one way: `pascal_mt` (the reader interface) ← `astmt_layout`, `zip_layout`
(the two packagings) ← this module ← `tfrecords`, `dataset`.
"""

import os

from ct_keras.data.astmt_layout import AstmtReader
from ct_keras.data.errors import BadSampleError
from ct_keras.data.zip_layout import ZipLayoutReader

# The description file that marks a folder of ct_keras TFRecords (`tfrecords.py` writes it).
TFRECORD_META_FILE = "ct_keras_tfrecords.json"


def is_tfrecord_dir(path):
    return os.path.isfile(os.path.join(path, TFRECORD_META_FILE))


def detect_layout(data_dir):
    """`"astmt"`, `"zip"` (the reference's PASCAL_MT.zip) or `"tfrecord"` (ours)."""
    data_dir = str(data_dir)
    if not os.path.isdir(data_dir):
        raise BadSampleError(data_dir, "Data folder not found")
    if is_tfrecord_dir(data_dir):
        return "tfrecord"
    if os.path.isdir(os.path.join(data_dir, "semantic_segmentation")):
        return "zip"
    if os.path.isdir(os.path.join(data_dir, "semseg")):
        return "astmt"
    raise BadSampleError(
        data_dir,
        "Cannot tell the layout: expected `semseg/` (ASTMT PASCAL_MT), "
        "`semantic_segmentation/` (the reference's PASCAL_MT.zip) or ct_keras TFRecords in",
    )


def open_pascal_mt(data_dir, split, skip_bad_samples=False):
    """The reader for the packaging found in `data_dir`."""
    layout = detect_layout(data_dir)
    readers = {"astmt": AstmtReader, "zip": ZipLayoutReader}
    if layout not in readers:
        raise BadSampleError(data_dir, f"Expected a raw PASCAL-MT folder. Received a {layout} folder")
    return readers[layout](data_dir, split, skip_bad_samples=skip_bad_samples)

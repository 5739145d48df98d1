import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from ct_keras.data.synthetic import generate_pascal_mt  # noqa: E402
from ct_keras.data.tfrecords import build_tfrecords  # noqa: E402

NUM_TRAIN, NUM_VAL, SIZE = 6, 4, 64


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    """A small synthetic PASCAL-MT in the ASTMT layout, shared by the whole session (read only)."""
    path = tmp_path_factory.mktemp("synthetic_pmt")
    generate_pascal_mt(str(path), NUM_TRAIN, NUM_VAL, seed=0, size=SIZE)
    return str(path)


@pytest.fixture(scope="session")
def tfrecord_dir(synthetic_dir, tmp_path_factory):
    """`synthetic_dir` as full-resolution TFRecords, two shards per split."""
    path = tmp_path_factory.mktemp("synthetic_tfr")
    build_tfrecords(synthetic_dir, str(path), num_shards=2, progress=False)
    return str(path)


@pytest.fixture
def writable_copy(synthetic_dir, tmp_path):
    """A private copy of the synthetic set for tests that break files."""
    import shutil

    path = tmp_path / "pmt"
    shutil.copytree(synthetic_dir, path)
    return str(path)

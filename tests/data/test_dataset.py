import os

import numpy as np
import pytest
import tensorflow as tf

from ct_keras.data.dataset import make_dataset
from ct_keras.data.palettes import class_to_task
from ct_keras.data.tfrecords import build_tfrecords, read_meta
from ct_keras.tasks import NORMALS, NUM_TASKS

from tests.data.conftest import NUM_TRAIN, NUM_VAL

SIZE = (48, 64)


def _arrays(ds):
    return [({k: v.numpy() for k, v in x.items()}, {k: v.numpy() for k, v in y.items()}) for x, y in ds]


def _assert_same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        for key in xa:
            assert np.array_equal(xa[key], xb[key]), key
        for key in ya:
            assert np.array_equal(ya[key], yb[key]), key


def test_batches_have_the_documented_structure(synthetic_dir):
    (x, y), = _arrays(make_dataset(synthetic_dir, "val", rule="rrnd", image_size=SIZE, batch_size=NUM_VAL))
    assert x["image"].dtype == np.float32 and x["image"].shape == (NUM_VAL,) + SIZE + (3,)
    assert 0 <= x["image"].min() and x["image"].max() <= 255 and x["image"].max() > 100
    assert x["palette"].dtype == np.int32 and set(np.unique(x["palette"])) == set(range(NUM_TASKS))
    assert y["semseg"].dtype == y["parts"].dtype == np.int32
    assert set(np.unique(y["semseg"])) <= set(range(21)) | {255}
    assert set(np.unique(y["edges"])) == {0.0, 1.0} and set(np.unique(y["saliency"])) == {0.0, 1.0}
    norms = np.linalg.norm(y["normals"], axis=-1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0)) and (norms == 0).any() and (norms > 0).any()


def test_raw_and_tfrecord_paths_give_identical_batches(synthetic_dir, tfrecord_dir, tmp_path):
    for split, rule in (("val", "r1r"), ("train", "r3")):
        raw = _arrays(make_dataset(synthetic_dir, split, rule=rule, image_size=SIZE, batch_size=3, seed=7))
        records = _arrays(make_dataset(tfrecord_dir, split, rule=rule, image_size=SIZE, batch_size=3, seed=7))
        _assert_same(raw, records)
    # Stored already resized: the same numbers again.
    small = str(tmp_path / "small")
    build_tfrecords(synthetic_dir, small, splits=("val",), image_size=SIZE, progress=False)
    assert read_meta(small)["image_size"] == list(SIZE)
    _assert_same(_arrays(make_dataset(synthetic_dir, "val", rule="rrnd", image_size=SIZE, batch_size=2)),
                 _arrays(make_dataset(small, "val", rule="rrnd", image_size=SIZE, batch_size=2)))


def test_validation_palettes_depend_on_seed_and_index_only(synthetic_dir):
    def palettes(seed, batch_size):
        ds = make_dataset(synthetic_dir, "val", rule="r1r", image_size=SIZE, batch_size=batch_size, seed=seed)
        return np.concatenate([x["palette"].numpy() for x, _ in ds])

    first = palettes(3, 2)
    assert np.array_equal(first, palettes(3, 2))
    assert np.array_equal(first, palettes(3, 4))
    assert not np.array_equal(first, palettes(4, 2))


@pytest.mark.parametrize("rule", ["r2", "r3"])
@pytest.mark.parametrize("augment", [False, True])
def test_semantic_palettes_follow_the_semseg_class(synthetic_dir, rule, augment):
    table = np.array(class_to_task(rule))
    ds = make_dataset(synthetic_dir, "train", rule=rule, image_size=SIZE, batch_size=NUM_TRAIN,
                      augment=augment, drop_remainder=False)
    (x, y), = _arrays(ds)
    # Every pixel, void and padding included, gets the task its semseg value maps to.
    assert np.array_equal(x["palette"], table[y["semseg"]])
    labelled = y["semseg"] != 255
    assert len(np.unique(x["palette"][labelled])) >= 3


def test_augmented_passes_differ_and_single_task_rule_is_respected(synthetic_dir):
    ds = make_dataset(synthetic_dir, "train", rule="s", task=NORMALS, image_size=SIZE, batch_size=2,
                      augment=True, seed=1, repeat=True)
    batches = _arrays(ds.take(2 * NUM_TRAIN // 2))
    first, second = batches[:NUM_TRAIN // 2], batches[NUM_TRAIN // 2:]
    assert all((x["palette"] == NORMALS).all() for x, _ in batches)
    assert not np.array_equal(first[0][0]["image"], second[0][0]["image"])
    # Un-augmented, the examples show: each pass visits each once, in an order of its own.
    plain = make_dataset(synthetic_dir, "train", rule="s", task=NORMALS, image_size=SIZE, batch_size=1,
                         shuffle=True, seed=1, repeat=True)
    ids = [hash(y["semseg"].tobytes()) for _, y in _arrays(plain.take(3 * NUM_TRAIN))]
    passes = [ids[i:i + NUM_TRAIN] for i in range(0, 3 * NUM_TRAIN, NUM_TRAIN)]
    assert len(set(passes[0])) == NUM_TRAIN and all(sorted(p) == sorted(passes[0]) for p in passes)
    assert len({tuple(p) for p in passes}) == 3
    # The stream is a function of the seed: iterating it again gives the same batches.
    _assert_same(batches, _arrays(ds.take(2 * NUM_TRAIN // 2)))


@pytest.mark.parametrize("layout", ["raw", "tfrecord"])
@pytest.mark.parametrize("start", [3, 8])
def test_stream_started_at_n_is_the_tail_of_the_stream_started_at_0(synthetic_dir, tfrecord_dir,
                                                                     layout, start):
    # start 8: past the first pass (6 examples), so the second pass's own order is found.
    data_dir = synthetic_dir if layout == "raw" else tfrecord_dir

    def stream(start, n):
        ds = make_dataset(data_dir, "train", rule="r1r", image_size=SIZE, batch_size=1, augment=True,
                          seed=5, repeat=True, start=start)
        return _arrays(ds.take(n))

    whole = stream(0, 14)
    _assert_same(whole[start:], stream(start, 14 - start))
    with pytest.raises(ValueError, match="`start` must be >= 0"):
        make_dataset(data_dir, "train", start=-1)


def test_one_pass_started_at_n_is_the_rest_of_that_pass(synthetic_dir):
    def stream(start):
        return _arrays(make_dataset(synthetic_dir, "train", rule="rrnd", image_size=SIZE, batch_size=1,
                                    augment=True, seed=2, start=start))

    whole = stream(0)
    assert len(whole) == NUM_TRAIN
    _assert_same(whole[4:], stream(4))
    assert stream(NUM_TRAIN + 1) == []


def test_tfrecord_build_resumes_by_skipping_finished_shards(synthetic_dir, tmp_path):
    out = str(tmp_path / "tfr")
    build_tfrecords(synthetic_dir, out, splits=("train",), num_shards=3, progress=False)
    shards = sorted(f for f in os.listdir(out) if f.endswith(".tfrecord"))
    assert shards == [f"train-0000{i}-of-00003.tfrecord" for i in range(3)]
    stamps = {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in shards}
    os.remove(os.path.join(out, shards[1]))
    build_tfrecords(synthetic_dir, out, splits=("train",), num_shards=3, progress=False)
    assert os.stat(os.path.join(out, shards[0])).st_mtime_ns == stamps[shards[0]]
    assert os.stat(os.path.join(out, shards[2])).st_mtime_ns == stamps[shards[2]]
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    count = sum(1 for _ in tf.data.TFRecordDataset([os.path.join(out, f) for f in shards]))
    assert count == NUM_TRAIN
    with pytest.raises(ValueError, match=r"Split 'val' is missing; run tools/build_tfrecords.py"):
        make_dataset(out, "val")
    with pytest.raises(ValueError, match=r"cannot resume with \[32, 32\]"):
        build_tfrecords(synthetic_dir, out, splits=("train",), image_size=(32, 32), progress=False)

"""Sharded TFRecords of PASCAL-MT with every label precomputed.

Each record holds one decoded sample (see `pascal_mt`) as lossless PNGs, so that
reading the TFRecords gives exactly what reading the raw folder gives, without the
`.mat` parsing and edge thinning that dominate the raw reader's time.

A build writes `ct_keras_tfrecords.json` first (its settings) and marks each split
complete at the end. Every shard is written under a temporary name and renamed when
complete, so an interrupted build resumes by skipping the shards that exist.
"""

import json
import math
import os

import numpy as np
import tensorflow as tf
from tqdm import tqdm

import cv2

from ct_keras.data.errors import BadSampleError
from ct_keras.data.example import resize_sample
from ct_keras.data.layout import TFRECORD_META_FILE, is_tfrecord_dir, open_pascal_mt
from ct_keras.data.pascal_mt import SAMPLE_KEYS

META_FILE = TFRECORD_META_FILE
FORMAT = "ct_keras.pascal_mt.tfrecords/1"
EXAMPLES_PER_SHARD = 250
_COLOUR_KEYS = ("image", "normals")


def read_meta(path):
    meta_path = os.path.join(path, META_FILE)
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise BadSampleError(meta_path, f"Cannot read the TFRecord description ({e})") from None
    if meta.get("format") != FORMAT:
        raise BadSampleError(meta_path, f"Expected format {FORMAT!r}. Received {meta.get('format')!r}")
    return meta


def _write_meta(path, meta):
    tmp = os.path.join(path, META_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, os.path.join(path, META_FILE))


def shard_name(split, shard, num_shards):
    return f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord"


def tfrecord_files(path, split):
    """The shard paths of a completely built split."""
    meta = read_meta(path)
    info = meta["splits"].get(split)
    if info is None or not info.get("complete"):
        state = "incomplete" if info else "missing"
        raise BadSampleError(
            os.path.join(path, META_FILE),
            f"Split {split!r} is {state}; run tools/build_tfrecords.py to finish it",
        )
    n = info["num_shards"]
    return [os.path.join(path, shard_name(split, i, n)) for i in range(n)]


def _png(array):
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"Cannot encode an array of shape {array.shape} as PNG")
    return data.tobytes()


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def serialize_sample(index, image_id, sample):
    """One `tf.train.Example`: the split index, the image id and a PNG per sample key."""
    features = {key: _bytes(_png(np.asarray(sample[key], np.uint8))) for key in SAMPLE_KEYS}
    features["index"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[index]))
    features["id"] = _bytes(image_id.encode())
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


_FEATURES = {key: tf.io.FixedLenFeature([], tf.string) for key in SAMPLE_KEYS + ("id",)}
_FEATURES["index"] = tf.io.FixedLenFeature([], tf.int64)


def parse_sample(serialized):
    """`(index, sample)` from one serialized record, as TF graph ops."""
    record = tf.io.parse_single_example(serialized, _FEATURES)
    sample = {}
    for key in SAMPLE_KEYS:
        channels = 3 if key in _COLOUR_KEYS else 1
        value = tf.io.decode_png(record[key], channels=channels)
        sample[key] = value if channels == 3 else value[..., 0]
    return record["index"], sample


def _resized(sample, image_size):
    if image_size is None:
        return sample
    out = resize_sample({k: tf.constant(v) for k, v in sample.items()}, tuple(image_size))
    return {k: v.numpy() for k, v in out.items()}


def write_split(reader, out_dir, num_shards=None, image_size=None, progress=True):
    """Writes one split's shards; returns the number of shards."""
    n = len(reader)
    num_shards = num_shards or max(1, math.ceil(n / EXAMPLES_PER_SHARD))
    if not 1 <= num_shards <= n:
        raise ValueError(f"`num_shards` must be in [1, {n}] for split {reader.split!r}. Received {num_shards}")
    bounds = np.linspace(0, n, num_shards + 1).astype(int)
    bar = tqdm(total=n, desc=f"{reader.split}", unit="img", disable=not progress)
    for shard in range(num_shards):
        path = os.path.join(out_dir, shard_name(reader.split, shard, num_shards))
        start, stop = bounds[shard], bounds[shard + 1]
        if os.path.isfile(path):
            bar.update(stop - start)
            continue
        tmp = path + ".tmp"
        try:
            with tf.io.TFRecordWriter(tmp) as writer:
                for index in range(start, stop):
                    bar.update(1)
                    try:
                        sample = reader.read(index)
                    except BadSampleError as e:
                        if not reader.skip_bad_samples:
                            raise
                        reader.skipped.skip(e)
                        continue
                    writer.write(serialize_sample(index, reader.ids[index], _resized(sample, image_size)))
            os.replace(tmp, path)
        except BaseException:
            bar.close()
            if os.path.exists(tmp):  # the shards before this one stay; a rerun starts here
                os.remove(tmp)
            raise
    bar.close()
    reader.skipped.summary()
    return num_shards


def build_tfrecords(data_dir, out_dir, splits=("train", "val"), num_shards=None,
                    image_size=None, skip_bad_samples=False, progress=True):
    """Converts a raw PASCAL-MT folder (either packaging) into TFRecords in `out_dir`.

    Args:
        data_dir: the raw PASCAL-MT folder.
        out_dir: where shards and `ct_keras_tfrecords.json` go; created if needed.
        splits: the splits to convert.
        num_shards: shards per split; default one per 250 images.
        image_size: `(H, W)` to store samples resized (as `make_dataset` would resize
            them), or None for full resolution.
        skip_bad_samples: drop unreadable samples with a counted warning.
    """
    os.makedirs(out_dir, exist_ok=True)
    settings = {
        "format": FORMAT,
        "source": os.path.abspath(str(data_dir)),
        "image_size": list(image_size) if image_size else None,
    }
    if is_tfrecord_dir(out_dir):
        meta = read_meta(out_dir)
        if meta["image_size"] != settings["image_size"]:
            raise BadSampleError(
                os.path.join(out_dir, META_FILE),
                f"Folder holds TFRecords at image_size {meta['image_size']}, "
                f"cannot resume with {settings['image_size']}",
            )
    else:
        meta = dict(settings, splits={})
        _write_meta(out_dir, meta)
    for split in splits:
        reader = open_pascal_mt(data_dir, split, skip_bad_samples=skip_bad_samples)
        meta["layout"] = reader.layout
        meta["splits"][split] = {"complete": False}
        _write_meta(out_dir, meta)
        shards = write_split(reader, out_dir, num_shards, image_size, progress)
        meta["splits"][split] = {"complete": True, "num_shards": shards, "num_skipped": reader.skipped.count}
        _write_meta(out_dir, meta)
    return meta

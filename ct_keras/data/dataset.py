"""`make_dataset`: PASCAL-MT (raw folder or TFRecords) → batches for CompositeTasking."""

import numpy as np
import tensorflow as tf

from ct_keras.data import palettes
from ct_keras.data.augment import augment as augment_example
from ct_keras.data.errors import BadSampleError
from ct_keras.data.example import resize_sample, to_inputs_and_targets
from ct_keras.data.layout import detect_layout, open_pascal_mt
from ct_keras.data.pascal_mt import SAMPLE_KEYS
from ct_keras.data.tfrecords import parse_sample, tfrecord_files

AUTOTUNE = tf.data.AUTOTUNE
_SAMPLE_SHAPES = {"image": [None, None, 3], "normals": [None, None, 3]}


def _raw_samples(reader):
    """`(index, sample)` for index tensors: the numpy reader wrapped for tf.data."""

    def load(index):
        try:
            sample = reader.read(int(index))
        except BadSampleError as e:
            if not reader.skip_bad_samples:
                raise
            reader.skipped.skip(e)
            sample = {k: np.zeros((1, 1, 3) if k in _SAMPLE_SHAPES else (1, 1), np.uint8) for k in SAMPLE_KEYS}
            return [sample[k] for k in SAMPLE_KEYS] + [False]
        return [sample[k] for k in SAMPLE_KEYS] + [True]

    def graph_load(index):
        values = tf.numpy_function(load, [index], [tf.uint8] * len(SAMPLE_KEYS) + [tf.bool], stateful=False)
        sample = {}
        for key, value in zip(SAMPLE_KEYS, values):
            value.set_shape(_SAMPLE_SHAPES.get(key, [None, None]))
            sample[key] = value
        return index, sample, values[-1]

    return graph_load


def _positions(start, count, repeat):
    """Positions in the stream from `start` on: endless, or to the end of the first pass."""
    if repeat:
        return tf.data.Dataset.counter(start)
    return tf.data.Dataset.range(start, max(start, count))


def _pass_seed(seed, p):
    """The seed of pass `p` over the data."""
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(p, tf.int64)])


def _example_index(position, seed, count, shuffle):
    """The example at `position`: pass p = position // count visits the examples in an
    order of its own, a pure function of (seed, p), so any position is found directly."""
    i = position % count
    if not shuffle:
        return i
    return tf.random.experimental.index_shuffle(i, _pass_seed(seed, position // count), count - 1)


def _records(files, seed, shuffle, shuffle_buffer, start, count, repeat):
    """Serialized records from stream position `start` on. TFRecords are read in order, so
    each pass is seeded by (seed, pass) and a resumed stream re-reads (not decodes) at most
    one pass to reach `start`."""
    def one_pass(p):
        names = tf.constant(files)
        if shuffle:
            seed_pair = _pass_seed(seed, p)
            order = tf.random.experimental.index_shuffle(
                tf.range(len(files), dtype=tf.int64), seed_pair, len(files) - 1)
            names = tf.gather(names, order)
        # Parallel reads interleave shards (in a fixed order); only worth it when shuffling.
        ds = tf.data.TFRecordDataset(names, num_parallel_reads=AUTOTUNE if shuffle else None)
        if shuffle:
            buffer_seed = tf.random.stateless_uniform([], seed_pair, 0, 2**62, tf.int64)
            ds = ds.shuffle(shuffle_buffer, seed=buffer_seed, reshuffle_each_iteration=False)
        return ds

    first = start // count if count else 0
    passes = tf.data.Dataset.counter(first) if repeat else tf.data.Dataset.range(first, 1)
    return passes.flat_map(one_pass).skip(start - first * count)


def num_examples(data_dir, split):
    """How many examples `split` of `data_dir` (raw folder or TFRecords) holds."""
    if detect_layout(data_dir) != "tfrecord":
        return len(open_pascal_mt(data_dir, split))
    return int(tf.data.TFRecordDataset(tfrecord_files(data_dir, split)).reduce(0, lambda n, _: n + 1))


def make_dataset(data_dir, split, rule="s", image_size=(256, 256), batch_size=10, augment=False,
                 seed=0, task=None, shuffle=None, repeat=False, drop_remainder=None,
                 skip_bad_samples=False, shuffle_buffer=512, start=0):
    """Batches of `(inputs, targets)` for one split of PASCAL-MT.

    `inputs = {"image": float32 [B, H, W, 3] in 0..255, "palette": int32 [B, H, W]}`;
    `targets = {"semseg": int32 (255 ignore), "parts": int32 (255 ignore),
    "edges": float32 0/1, "saliency": float32 0/1, "normals": float32 [B, H, W, 3]
    (zero = invalid)}`.

    Args:
        data_dir: a raw PASCAL-MT folder (ASTMT or PASCAL_MT.zip layout) or a folder
            written by `build_tfrecords`; detected automatically.
        split: `"train"` or `"val"`.
        rule: Task Palette rule, one of `palettes.RULES` or a mix of them ('rrnd+s':
            `palettes.rule_parts`).
        image_size: `(H, W)`; images bicubic, labels nearest (docs/design.md §5).
        batch_size: examples per batch.
        augment: train-time augmentation. Palettes are built after it, so semantic
            palettes stay on their (flipped, scaled) objects.
        seed: with `augment=False`, everything random (palettes) is a function of
            (seed, example index) only: the same validation palettes on every pass and
            in any order. With `augment=True`, augmentations and palettes are a function
            of (seed, stream position), so each pass of a repeated stream draws anew.
            The example order of pass p is a function of (seed, p): the whole stream is
            the same each time it is iterated, whatever `start`.
        task: the task of rule s; None draws one per image.
        shuffle: shuffle the examples; default `augment`.
        repeat: repeat forever.
        drop_remainder: default `augment`, so that training batches have a static size.
        skip_bad_samples: drop broken samples with a counted warning instead of failing.
        shuffle_buffer: records held for shuffling TFRecords.
        start: the stream position (examples, not batches) to begin at: the stream begun
            at `start` is exactly the tail of the stream begun at 0, with no replay
            (resuming training at step n: `start = n * batch_size`). With
            `skip_bad_samples`, positions count the samples before any is dropped.
    """
    palettes.rule_parts(rule)
    if len(image_size) != 2 or min(image_size) < 1:
        raise ValueError(f"`image_size` must be (H, W) with positive sizes. Received {image_size}")
    shuffle = augment if shuffle is None else shuffle
    drop_remainder = augment if drop_remainder is None else drop_remainder
    if start < 0:
        raise ValueError(f"`start` must be >= 0. Received {start}")
    image_size = tuple(int(v) for v in image_size)

    if detect_layout(data_dir) == "tfrecord":
        files = tfrecord_files(data_dir, split)
        count = num_examples(data_dir, split) if start else 0
        ds = _records(files, seed, shuffle, shuffle_buffer, start, count, repeat)
        ds = tf.data.Dataset.zip(_positions(start, 0, True), ds)
        ds = ds.map(lambda position, record: (position, *parse_sample(record)), num_parallel_calls=AUTOTUNE)
    else:
        reader = open_pascal_mt(data_dir, split, skip_bad_samples=skip_bad_samples)
        count = len(reader)
        ds = _positions(start, count, repeat).map(
            lambda position: (position, _example_index(position, seed, count, shuffle)))
        load = _raw_samples(reader)
        ds = ds.map(lambda position, index: (position, *load(index)), num_parallel_calls=AUTOTUNE)
        if skip_bad_samples:
            ds = ds.filter(lambda position, index, sample, ok: ok)
        ds = ds.map(lambda position, index, sample, ok: (position, index, sample))

    def prepare(position, index, sample):
        image, targets = to_inputs_and_targets(resize_sample(sample, image_size))
        # Validation: a function of the example; training: of the stream position, so that
        # every pass draws afresh and a resumed stream draws what it would have drawn.
        key = position if augment else tf.cast(index, tf.int64)
        seed_pair = tf.stack([tf.constant(seed, tf.int64), key])
        augment_seed, palette_seed = tf.unstack(tf.random.experimental.stateless_split(seed_pair, 2))
        if augment:
            image, targets = augment_example(image, targets, augment_seed)
        palette = palettes.task_palette(
            rule, seed=palette_seed, shape=image_size, semseg=targets["semseg"], task=task
        )
        return {"image": image, "palette": palette}, targets

    ds = ds.map(prepare, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)

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


def _seed_pairs(seed, augment):
    if augment:
        # A fresh draw on every pass over the data: augmentations and palettes change per epoch.
        return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return None


def num_examples(data_dir, split):
    """How many examples `split` of `data_dir` (raw folder or TFRecords) holds."""
    if detect_layout(data_dir) != "tfrecord":
        return len(open_pascal_mt(data_dir, split))
    return int(tf.data.TFRecordDataset(tfrecord_files(data_dir, split)).reduce(0, lambda n, _: n + 1))


def make_dataset(data_dir, split, rule="s", image_size=(256, 256), batch_size=10, augment=False,
                 seed=0, task=None, shuffle=None, repeat=False, drop_remainder=None,
                 skip_bad_samples=False, shuffle_buffer=512):
    """Batches of `(inputs, targets)` for one split of PASCAL-MT.

    `inputs = {"image": float32 [B, H, W, 3] in 0..255, "palette": int32 [B, H, W]}`;
    `targets = {"semseg": int32 (255 ignore), "parts": int32 (255 ignore),
    "edges": float32 0/1, "saliency": float32 0/1, "normals": float32 [B, H, W, 3]
    (zero = invalid)}`.

    Args:
        data_dir: a raw PASCAL-MT folder (ASTMT or PASCAL_MT.zip layout) or a folder
            written by `build_tfrecords`; detected automatically.
        split: `"train"` or `"val"`.
        rule: Task Palette rule, one of `palettes.RULES`.
        image_size: `(H, W)`; images bicubic, labels nearest (DESIGN §5).
        batch_size: examples per batch.
        augment: train-time augmentation. Palettes are built after it, so semantic
            palettes stay on their (flipped, scaled) objects.
        seed: with `augment=False`, everything random (palettes) is a function of
            (seed, example index) only: the same validation palettes on every pass and
            in any order. With `augment=True`, a seeded stream drawn anew each pass.
        task: the task of rule s; None draws one per image.
        shuffle: shuffle the examples; default `augment`.
        repeat: repeat forever.
        drop_remainder: default `augment`, so that training batches have a static size.
        skip_bad_samples: drop broken samples with a counted warning instead of failing.
        shuffle_buffer: records held for shuffling TFRecords.
    """
    if rule not in palettes.RULES:
        raise ValueError(f"`rule` must be one of {palettes.RULES}. Received {rule!r}")
    if len(image_size) != 2 or min(image_size) < 1:
        raise ValueError(f"`image_size` must be (H, W) with positive sizes. Received {image_size}")
    shuffle = augment if shuffle is None else shuffle
    drop_remainder = augment if drop_remainder is None else drop_remainder
    image_size = tuple(int(v) for v in image_size)

    if detect_layout(data_dir) == "tfrecord":
        files = tfrecord_files(data_dir, split)
        ds = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        # Parallel reads interleave shards; only worth it (and only harmless) when shuffling.
        ds = tf.data.TFRecordDataset(ds, num_parallel_reads=AUTOTUNE if shuffle else None)
        if shuffle:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(parse_sample, num_parallel_calls=AUTOTUNE)
    else:
        reader = open_pascal_mt(data_dir, split, skip_bad_samples=skip_bad_samples)
        ds = tf.data.Dataset.range(len(reader))
        if shuffle:
            ds = ds.shuffle(len(reader), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(_raw_samples(reader), num_parallel_calls=AUTOTUNE)
        if skip_bad_samples:
            ds = ds.filter(lambda index, sample, ok: ok)
        ds = ds.map(lambda index, sample, ok: (index, sample))
    if repeat:
        ds = ds.repeat()

    def prepare(index, sample, seed_pair=None):
        image, targets = to_inputs_and_targets(resize_sample(sample, image_size))
        if seed_pair is None:
            seed_pair = tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)])
        augment_seed, palette_seed = tf.unstack(tf.random.experimental.stateless_split(seed_pair, 2))
        if augment:
            image, targets = augment_example(image, targets, augment_seed)
        palette = palettes.task_palette(
            rule, seed=palette_seed, shape=image_size, semseg=targets["semseg"], task=task
        )
        return {"image": image, "palette": palette}, targets

    seeds = _seed_pairs(seed, augment)
    if seeds is not None:
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda pair, seed_pair: prepare(*pair, seed_pair), num_parallel_calls=AUTOTUNE
        )
    else:
        ds = ds.map(prepare, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)

"""Converts a PASCAL-MT folder (ASTMT or the reference's PASCAL_MT.zip layout) to TFRecords.

    python tools/build_tfrecords.py --data_dir=/data/PASCAL_MT --out=/data/PASCAL_MT_tfr
    python tools/build_tfrecords.py --data_dir=/data/PASCAL_MT --out=/data/pmt256 \
        --image_size=256 --num_shards=20 --skip_bad_samples

Re-running the same command resumes: finished shards are kept.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _cli import import_tensorflow_quietly, run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags, logging  # noqa: E402

import_tensorflow_quietly()  # before the library, which imports TensorFlow
from ct_keras.data.tfrecords import build_tfrecords  # noqa: E402

flags.DEFINE_string("data_dir", None, "Raw PASCAL-MT folder; the layout is detected.")
flags.DEFINE_string("out", None, "Output folder for the shards.")
flags.DEFINE_list("splits", ["train", "val"], "Splits to convert.")
flags.DEFINE_integer("num_shards", None, "Shards per split (default: one per 250 images).")
flags.DEFINE_integer("image_size", None, "Store images resized to this square size (default: full resolution).")
flags.DEFINE_bool("skip_bad_samples", False, "Skip unreadable samples with a counted warning.")
flags.mark_flags_as_required(["data_dir", "out"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    size = (FLAGS.image_size, FLAGS.image_size) if FLAGS.image_size else None
    meta = build_tfrecords(FLAGS.data_dir, FLAGS.out, splits=FLAGS.splits, num_shards=FLAGS.num_shards,
                           image_size=size, skip_bad_samples=FLAGS.skip_bad_samples)
    logging.info("Wrote %s: %s", FLAGS.out, meta["splits"])


if __name__ == "__main__":
    run(main)

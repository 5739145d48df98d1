"""Writes a synthetic PASCAL-MT in the ASTMT layout (see `ct_keras/data/synthetic.py`).

    python tools/make_synthetic_pascal_mt.py --out=data/synthetic_pmt --num_train=200 --num_val=50 --seed=0
"""

import os
import time

from _cli import import_tensorflow_quietly, run  # first: it says how to install the package if it is missing
from absl import app, flags, logging

import_tensorflow_quietly()  # before the library, which imports TensorFlow
from ct_keras.data.synthetic import VARIANTS, generate_pascal_mt  # noqa: E402

flags.DEFINE_string("out", None, "Output folder.")
flags.DEFINE_integer("num_train", 200, "Training images.")
flags.DEFINE_integer("num_val", 50, "Validation images.")
flags.DEFINE_integer("seed", 0, "Every image is a function of (seed, split, index).")
flags.DEFINE_integer("size", 256, "Image width; height is the same or 3/4 of it.")
flags.DEFINE_enum("variant", "voc", sorted(VARIANTS), "voc: all 20 VOC classes; easy: 5 classes, larger "
                  "objects, people in most images (the demo's).")
flags.mark_flags_as_required(["out"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    start = time.time()
    ids = generate_pascal_mt(FLAGS.out, FLAGS.num_train, FLAGS.num_val, seed=FLAGS.seed, size=FLAGS.size,
                             progress=True, variant=FLAGS.variant)
    logging.info("Wrote %d train + %d val images to %s in %.1f s", len(ids["train"]), len(ids["val"]),
                 FLAGS.out, time.time() - start)


if __name__ == "__main__":
    run(main)

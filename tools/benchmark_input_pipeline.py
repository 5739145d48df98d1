"""Measures input-pipeline throughput (images/s) of `make_dataset`.

    python tools/benchmark_input_pipeline.py --data_dir=data/synthetic_pmt --augment --rule=r1r

Reports the median over `--runs` timed runs of `--batches` batches each, after
`--warmup` batches that fill the prefetch buffers and trace the graphs.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _cli import import_tensorflow_quietly, run  # noqa: E402  (first: it says how to install the package if it is missing)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import_tensorflow_quietly()  # before the library, which imports TensorFlow
from ct_keras.data.dataset import make_dataset  # noqa: E402

flags.DEFINE_string("data_dir", None, "Raw PASCAL-MT folder or TFRecord folder.")
flags.DEFINE_string("split", "train", "Split to read.")
flags.DEFINE_string("rule", "r1r", "Task Palette rule.")
flags.DEFINE_integer("image_size", 256, "Square image size.")
flags.DEFINE_integer("batch_size", 10, "Batch size.")
flags.DEFINE_bool("augment", True, "Full train-time augmentation.")
flags.DEFINE_integer("warmup", 5, "Batches before timing.")
flags.DEFINE_integer("batches", 20, "Batches per timed run.")
flags.DEFINE_integer("runs", 3, "Timed runs; the median is reported.")
flags.mark_flags_as_required(["data_dir"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    ds = make_dataset(FLAGS.data_dir, FLAGS.split, rule=FLAGS.rule, image_size=(FLAGS.image_size,) * 2,
                      batch_size=FLAGS.batch_size, augment=FLAGS.augment, repeat=True)
    batches = iter(ds)
    for _ in range(FLAGS.warmup):
        next(batches)
    rates = []
    for _ in range(FLAGS.runs):
        start = time.perf_counter()
        for _ in range(FLAGS.batches):
            next(batches)
        rates.append(FLAGS.batches * FLAGS.batch_size / (time.perf_counter() - start))
    print(f"{np.median(rates):.1f} images/s (median of {FLAGS.runs} runs: "
          f"{', '.join(f'{r:.1f}' for r in rates)}); {FLAGS.image_size}², batch {FLAGS.batch_size}, "
          f"augment={FLAGS.augment}, rule={FLAGS.rule}, data={FLAGS.data_dir}")


if __name__ == "__main__":
    run(main)

"""Inference speed of every way to run a CompositeTaskingNet: Keras, SavedModel, TFLite,
plain versus the exact fast path, with file sizes.

    python tools/benchmark_deploy.py --backbone=resnet34 --image_size=256 --batch_sizes=1,8 \
        --tflite=fp32,fp16,dynamic_int8,int8 --repeats=5 --out=docs/bench/deploy_speed.json

Weights do not change the speed: a fresh model is timed unless --model_dir is given.
The exports are made by tools/export.py in child processes (int8 is calibrated on a few
synthetic images: enough for timing). Then each runtime is timed in turn, its rows
round robin so that load from others hits them alike; a row is the median over
--repeats calls after --warmup calls, and images/s = batch / median. A "composite"
palette gives the four quadrants different tasks plus a random 1 % of single pixels;
"uniform" is one task over the whole image.
"""

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("model_dir", None, "A training run to time instead of a fresh model.")
flags.DEFINE_enum("backbone", "resnet34", ["resnet18", "resnet34", "resnet50", "resnet101"], "Encoder.")
flags.DEFINE_integer("image_size", 256, "Input size.")
flags.DEFINE_list("batch_sizes", ["1", "8"], "Batch sizes to time.")
flags.DEFINE_list("what", ["keras", "saved_model", "tflite"], "Which runtimes to time.")
flags.DEFINE_list("tflite", ["fp32", "int8"], "TFLite variants of the fast path to time.")
flags.DEFINE_list("tflite_plain", ["fp32", "int8"], "TFLite variants of the Keras graph to time.")
flags.DEFINE_integer("repeats", 5, "Timed calls per row.")
flags.DEFINE_integer("warmup", 1, "Untimed calls per row first.")
flags.DEFINE_integer("threads", 0, "Intra-op threads (TF and TFLite); 0 = all cores.")
flags.DEFINE_string("work_dir", None, "Keep the exports here (default: a temporary folder, removed).")
flags.DEFINE_string("out", None, "Optional JSON file of the results.")
FLAGS = flags.FLAGS


def _inputs(batch, size, uniform):
    import numpy as np

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    if uniform:
        return image, np.full((batch, size, size), 2, np.int32)
    palette = np.zeros((batch, size, size), np.int32)
    half = size // 2
    palette[:, :half, half:], palette[:, half:, :half], palette[:, half:, half:] = 1, 3, 4
    islands = rng.random(palette.shape) < 0.01
    palette[islands] = rng.integers(0, 5, islands.sum())
    return image, palette


class Row:
    def __init__(self, runtime, path, palette, batch, fn):
        self.runtime, self.path, self.palette, self.batch, self.fn = runtime, path, palette, batch, fn
        self.times = []

    def result(self):
        import numpy as np

        median = float(np.median(self.times))
        return {"runtime": self.runtime, "path": self.path, "palette": self.palette, "batch": self.batch,
                "median_s": median, "images_per_s": self.batch / median,
                "times_s": [round(t, 4) for t in self.times]}


def _time(rows):
    for row in rows:
        for _ in range(FLAGS.warmup):
            row.fn()
    for _ in range(FLAGS.repeats):
        for row in rows:
            start = time.perf_counter()
            row.fn()
            row.times.append(time.perf_counter() - start)
    return [row.result() for row in rows]


def _keras_rows(model, fast, batch, size):
    import tensorflow as tf

    rows = []
    for palette in ("composite", "uniform"):
        image, ids = (tf.constant(v) for v in _inputs(batch, size, palette == "uniform"))
        plain = tf.function(lambda i=image, p=ids: model({"image": i, "palette": p}, training=False))
        rows.append(Row("Keras", "plain", palette, batch, plain))
        if palette == "composite":
            fn = tf.function(lambda i=image, p=ids: fast.composite(i, p))
        else:
            fn = tf.function(lambda i=image: fast.single_task_folded(i, 2))
        rows.append(Row("Keras", "fast", palette, batch, fn))
    if batch > 1:  # every task everywhere: timed at batch 1 (5 decoder passes per image)
        return rows
    image = tf.constant(_inputs(batch, size, True)[0])
    every_plain = tf.function(lambda i=image: [
        model({"image": i, "palette": tf.fill([batch, size, size], k)}, training=False) for k in range(5)])
    rows.append(Row("Keras", "plain", "all 5 tasks", batch, every_plain))
    rows.append(Row("Keras", "fast", "all 5 tasks", batch, tf.function(lambda i=image: fast.all_tasks(i))))
    return rows


def _saved_model_rows(path, kind, batch, size):
    import tensorflow as tf

    served = tf.saved_model.load(path)
    image, ids = (tf.constant(v) for v in _inputs(batch, size, False))
    composite, single = served.signatures["serving_default"], served.signatures["single_task"]
    task = tf.fill([batch], 2)
    return [Row("SavedModel serving_default", kind, "composite", batch,
                lambda: composite(image=image, palette=ids)),
            Row("SavedModel single_task", kind, "uniform", batch, lambda: single(image=image, task=task))]


def _tflite_rows(path, name, kind, batch, size):
    from ai_edge_litert.interpreter import Interpreter

    threads = FLAGS.threads or os.cpu_count()
    runner = Interpreter(model_path=path, num_threads=threads).get_signature_runner("serving_default")
    rows = []
    for palette in ("composite", "uniform"):
        image, ids = _inputs(batch, size, palette == "uniform")
        rows.append(Row(f"TFLite {name}", kind, palette, batch, lambda i=image, p=ids: runner(image=i, palette=p)))
    return rows


def _export(work, weights_args, size):
    """SavedModels and TFLite files of both paths, made by tools/export.py."""
    data_dir = os.path.join(work, "calibration_data")
    needs_data = "int8" in FLAGS.tflite or "int8" in FLAGS.tflite_plain
    if needs_data and not os.path.isdir(data_dir):
        from ct_keras.data import generate_pascal_mt

        generate_pascal_mt(data_dir, 8, 1, seed=0, size=size)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for kind, quantizations in (("fast", FLAGS.tflite), ("plain", FLAGS.tflite_plain)):
        if os.path.isdir(os.path.join(work, kind, "1")):
            continue
        command = [sys.executable, os.path.join(ROOT, "tools", "export.py"), *weights_args,
                   f"--export_dir={os.path.join(work, kind)}", "--version=1", "--noverify",
                   f"--tflite={','.join(quantizations if 'tflite' in FLAGS.what else [])}",
                   f"--data_dir={data_dir}", "--calibration_images=8", f"--fast={kind == 'fast'}"]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise RuntimeError(f"tools/export.py failed: {result.stderr[-3000:]}")


def _size_of(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    batches = [int(b) for b in FLAGS.batch_sizes]
    import tensorflow as tf

    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    from ct_keras.deploy import FastCompositeTasking
    from ct_keras.deploy.tflite import check_quantizations
    from ct_keras.models import CompositeTaskingNet, load_model_dir

    check_quantizations(FLAGS.tflite + FLAGS.tflite_plain)
    work = FLAGS.work_dir or tempfile.mkdtemp(prefix="benchmark_deploy-")
    os.makedirs(work, exist_ok=True)
    try:
        if FLAGS.model_dir:
            model = load_model_dir(FLAGS.model_dir)
            weights_args = [f"--model_dir={FLAGS.model_dir}"]
        else:
            model = CompositeTaskingNet(backbone=FLAGS.backbone, image_size=FLAGS.image_size)
            weights = os.path.join(work, "model.weights.h5")
            model.save_weights(weights)
            weights_args = [f"--weights={weights}", f"--backbone={FLAGS.backbone}",
                            f"--image_size={FLAGS.image_size}"]
        size = model.image_hw[0]
        if {"saved_model", "tflite"} & set(FLAGS.what):
            _export(work, weights_args, size)
        tflite_files = {(kind, q): os.path.join(work, kind, "tflite", "1", f"model_{q}.tflite")
                        for kind, qs in (("fast", FLAGS.tflite), ("plain", FLAGS.tflite_plain)) for q in qs}
        results = []
        for batch in batches:
            if "keras" in FLAGS.what:
                results += _time(_keras_rows(model, FastCompositeTasking(model), batch, size))
                gc.collect()
            if "saved_model" in FLAGS.what:
                for kind in ("plain", "fast"):
                    results += _time(_saved_model_rows(os.path.join(work, kind, "1"), kind, batch, size))
                    gc.collect()
            if "tflite" in FLAGS.what:
                for (kind, q), path in tflite_files.items():
                    results += _time(_tflite_rows(path, q, kind, batch, size))
                    gc.collect()
        sizes = {f"SavedModel ({kind})": _size_of(os.path.join(work, kind, "1"))
                 for kind in ("plain", "fast") if os.path.isdir(os.path.join(work, kind, "1"))}
        sizes.update({f"TFLite {q} ({kind})": _size_of(p) for (kind, q), p in tflite_files.items()
                      if os.path.isfile(p)})
    finally:
        if not FLAGS.work_dir:
            shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    print(f"{FLAGS.backbone} {size}x{size}, {FLAGS.repeats} repeats, load average after {load[0]:.1f}")
    print("| runtime | path | palette | batch | images/s | s/image |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['runtime']} | {r['path']} | {r['palette']} | {r['batch']} | "
              f"{r['images_per_s']:.2f} | {r['median_s'] / r['batch']:.3f} |")
    for name, size_bytes in sizes.items():
        print(f"size {name}: {size_bytes / 2**20:.1f} MiB")
    if FLAGS.out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        with open(FLAGS.out, "w") as f:
            json.dump({"flags": {k: getattr(FLAGS, k) for k in (
                "backbone", "image_size", "batch_sizes", "repeats", "warmup", "threads", "model_dir")},
                "load_average_after": load, "cpu_count": os.cpu_count(), "results": results,
                "sizes_bytes": sizes}, f, indent=2)


if __name__ == "__main__":
    run(main)

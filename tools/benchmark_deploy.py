"""Inference speed of every way to run a CompositeTaskingNet: Keras, SavedModel, TFLite,
plain versus the exact fast path, with file sizes.

    python tools/benchmark_deploy.py --backbone=resnet34 --image_size=256 --batch_sizes=1,8 \
        --tflite=fp32,fp16,dynamic_int8,int8 --repeats=7 --out=notes/deploy_speed.json

Weights do not change the speed: a fresh model is timed unless --model_dir is given.
Each row is the median over --repeats timed calls (after warm-up calls), taken round
robin so that a busy machine slows every row alike; images/s = batch / median time.
A "composite" palette gives the four quadrants different tasks (plus a random 1 %
of single pixels, so no block is skipped); "uniform" is one task over the image.
"""

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from _cli import run  # noqa: E402

flags.DEFINE_string("model_dir", None, "A training run to time instead of a fresh model.")
flags.DEFINE_enum("backbone", "resnet34", ["resnet18", "resnet34", "resnet50", "resnet101"], "Encoder.")
flags.DEFINE_integer("image_size", 256, "Input size.")
flags.DEFINE_list("batch_sizes", ["1", "8"], "Batch sizes to time.")
flags.DEFINE_list("what", ["keras", "saved_model", "tflite"], "Which runtimes to time.")
flags.DEFINE_list("tflite", ["fp32", "int8"], "TFLite variants to time.")
flags.DEFINE_bool("tflite_plain", True, "Also time TFLite files of the Keras graph (fp32 and int8).")
flags.DEFINE_string("data_dir", None, "Training images to calibrate int8 (default: the test images).")
flags.DEFINE_integer("repeats", 5, "Timed calls per row.")
flags.DEFINE_integer("warmup", 2, "Untimed calls per row first.")
flags.DEFINE_integer("threads", 0, "Intra-op threads (TF and TFLite); 0 = all cores.")
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


def _keras_rows(model, fast, batch, size):
    import tensorflow as tf

    rows = []
    for palette in ("composite", "uniform"):
        image, ids = (tf.constant(v) for v in _inputs(batch, size, palette == "uniform"))
        plain = tf.function(lambda i=image, p=ids: model({"image": i, "palette": p}, training=False))
        rows.append(Row("Keras", "plain", palette, batch, plain))
        if palette == "composite":
            rows.append(Row("Keras", "fast", palette, batch, tf.function(lambda i=image, p=ids: fast.composite(i, p))))
        else:
            rows.append(Row("Keras", "fast", palette, batch, tf.function(lambda i=image: fast.single_task_folded(i, 2))))
    image = tf.constant(_inputs(batch, size, True)[0])
    every_plain = tf.function(lambda i=image: [
        model({"image": i, "palette": tf.fill([batch, size, size], k)}, training=False) for k in range(5)])
    rows.append(Row("Keras", "plain", "all 5 tasks", batch, every_plain))
    rows.append(Row("Keras", "fast", "all 5 tasks", batch, tf.function(lambda i=image: fast.all_tasks(i))))
    return rows


def _saved_model_rows(paths, batch, size):
    import tensorflow as tf

    rows = []
    for path_kind, path in paths.items():
        served = tf.saved_model.load(path)
        image, ids = (tf.constant(v) for v in _inputs(batch, size, False))
        fn = served.signatures["serving_default"]
        rows.append(Row("SavedModel", path_kind, "composite", batch,
                        lambda fn=fn, i=image, p=ids: fn(image=i, palette=p)))
        fn, task = served.signatures["single_task"], tf.fill([batch], 2)
        rows.append(Row("SavedModel single_task", path_kind, "uniform", batch,
                        lambda fn=fn, i=image, t=task: fn(image=i, task=t)))
    return rows


def _tflite_rows(files, batch, size):
    from ai_edge_litert.interpreter import Interpreter

    rows = []
    for (path_kind, quantization), file in files.items():
        kwargs = {"num_threads": FLAGS.threads} if FLAGS.threads else {"num_threads": os.cpu_count()}
        runner = Interpreter(model_path=file, **kwargs).get_signature_runner("serving_default")
        for palette in ("composite", "uniform"):
            image, ids = _inputs(batch, size, palette == "uniform")
            rows.append(Row(f"TFLite {quantization}", path_kind, palette, batch,
                            lambda r=runner, i=image, p=ids: r(image=i, palette=p)))
    return rows


def _time(rows):
    for row in rows:
        for _ in range(FLAGS.warmup):
            row.fn()
    for _ in range(FLAGS.repeats):
        for row in rows:  # round robin: load from others hits every row alike
            start = time.perf_counter()
            row.fn()
            row.times.append(time.perf_counter() - start)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    batches = [int(b) for b in FLAGS.batch_sizes]
    import numpy as np
    import tensorflow as tf

    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    from ct_keras.deploy import FastCompositeTasking
    from ct_keras.deploy.saved_model import export_saved_model
    from ct_keras.deploy.tflite import check_quantizations, export_tflite, representative_inputs
    from ct_keras.models import CompositeTaskingNet, load_model_dir

    quantizations = check_quantizations(FLAGS.tflite)
    if FLAGS.model_dir:
        model = load_model_dir(FLAGS.model_dir)
    else:
        model = CompositeTaskingNet(backbone=FLAGS.backbone, image_size=FLAGS.image_size)
    size = model.image_hw[0]
    fast = FastCompositeTasking(model)
    work = tempfile.mkdtemp(prefix="benchmark_deploy-")
    sizes, saved, files = {}, {}, {}
    if "saved_model" in FLAGS.what:
        for kind, is_fast in (("plain", False), ("fast", True)):
            saved[kind] = export_saved_model(model, os.path.join(work, f"saved_{kind}"), fast=is_fast)
    if "tflite" in FLAGS.what:
        if FLAGS.data_dir:
            calibration = representative_inputs(FLAGS.data_dir, (size, size), num_images=16)
        else:
            def calibration():
                image, palette = _inputs(1, size, False)
                for _ in range(4):
                    yield {"image": image, "palette": palette}
        wanted = [("fast", q) for q in quantizations]
        if FLAGS.tflite_plain:
            wanted += [("plain", q) for q in ("fp32", "int8") if q in quantizations]
        for kind in ("fast", "plain"):
            qs = [q for k, q in wanted if k == kind]
            if qs:
                out = export_tflite(model, os.path.join(work, f"tflite_{kind}"), qs, fast=kind == "fast",
                                    representative_dataset=calibration)
                files.update({(kind, q): path for q, path in out.items()})
    for (kind, q), path in files.items():
        sizes[f"TFLite {q} ({kind})"] = os.path.getsize(path)
    for kind, path in saved.items():
        sizes[f"SavedModel ({kind})"] = sum(os.path.getsize(os.path.join(d, f))
                                            for d, _, fs in os.walk(path) for f in fs)

    results = []
    for batch in batches:
        rows = []
        if "keras" in FLAGS.what:
            rows += _keras_rows(model, fast, batch, size)
        rows += _saved_model_rows(saved, batch, size)
        rows += _tflite_rows(files, batch, size)
        _time(rows)
        for row in rows:
            median = float(np.median(row.times))
            results.append({"runtime": row.runtime, "path": row.path, "palette": row.palette,
                            "batch": row.batch, "median_s": median, "images_per_s": row.batch / median,
                            "times_s": [round(t, 4) for t in row.times]})
    load = os.getloadavg()
    print(f"| runtime | path | palette | batch | images/s | s/image |   ({FLAGS.repeats} repeats, "
          f"load average {load[0]:.1f})")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['runtime']} | {r['path']} | {r['palette']} | {r['batch']} | "
              f"{r['images_per_s']:.2f} | {r['median_s'] / r['batch']:.3f} |")
    for name, size_bytes in sizes.items():
        print(f"size {name}: {size_bytes / 2**20:.1f} MiB")
    if FLAGS.out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        with open(FLAGS.out, "w") as f:
            json.dump({"flags": {k: getattr(FLAGS, k) for k in ("backbone", "image_size", "batch_sizes",
                                                                "repeats", "threads", "model_dir")},
                       "load_average": load, "results": results,
                       "sizes_bytes": sizes}, f, indent=2)


if __name__ == "__main__":
    run(main)

"""How much the TFLite exports (fp32 / fp16 / int8) lose against the Keras model, on a
validation split: each one's task metrics beside the Keras model's, and its agreement with it.

    python tools/evaluate_exports.py --model_dir=runs/demo --data_dir=data/synthetic_pascal_mt_easy64 \
        --tflite=exported/demo/tflite/1/model_fp32.tflite,exported/demo/tflite/1/model_int8.tflite

The metrics are the library's (`ct_keras.metrics`, rule S: each task over whole images, as the
paper's Table 1), with the keys and, by default, the edge thresholds of the run's metrics.json,
so the Keras row is what `tools/evaluate.py` and training's final evaluation print. Agreement
with the Keras model, per task over the same images: class maps % equal pixels, edges /
saliency mean |Δp|, normals mean angle (°).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("model_dir", None, "The training run the exports were made from (the reference).")
flags.DEFINE_string("data_dir", None, "PASCAL-MT with a val split.")
flags.DEFINE_list("tflite", [], "The .tflite files to evaluate.")
flags.DEFINE_integer("max_images", 0, "Validation images to use; 0 = all.")
flags.DEFINE_integer("edge_thresholds", 0, "Thresholds of the edges odsF; 0 = the run's (its flags.txt), "
                     "else 99.")
flags.DEFINE_string("out", None, "Optional JSON file of the results.")
flags.mark_flags_as_required(["model_dir", "data_dir"])
FLAGS = flags.FLAGS


class Agreement:
    """Wraps a TFLite file as `evaluate_outputs` calls it, and compares each answer with the
    Keras model's decoded output for the same inputs. (The Keras output is computed again for
    each file: keeping it for all would hold every decoded map of the split in memory.)"""

    def __init__(self, predictor, model):
        import numpy as np

        self.np, self.predictor, self.model = np, predictor, model
        self.values = {}

    def __call__(self, image, palette):
        from ct_keras import tasks

        np = self.np
        out = self.predictor.outputs(image, palette)
        task = int(palette.flat[0])
        name = tasks.TASK_NAMES[task]
        raw = self.model({"image": image, "palette": palette}, training=False).numpy()
        reference, value = tasks.decode(raw, task, self.model.anchors), np.asarray(out[name])
        if task in (tasks.SEMSEG, tasks.PARTS):
            score = 100 * np.mean(value == reference)
        elif task == tasks.NORMALS:
            score = np.mean(np.degrees(np.arccos(np.clip(np.sum(value * reference, axis=-1), -1, 1))))
        else:
            score = np.mean(np.abs(value - reference))
        self.values.setdefault(name, []).append(float(score))
        return out

    def result(self):
        return {name: float(self.np.mean(v)) for name, v in self.values.items()}


def _edge_thresholds():
    from ct_keras.models.model_dir import read_flag

    if FLAGS.edge_thresholds:
        return FLAGS.edge_thresholds
    try:
        return int(read_flag(FLAGS.model_dir, "edge_thresholds"))
    except ValueError:
        return 99


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    for path in FLAGS.tflite:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--tflite file {path} does not exist")

    from ct_keras.data import detect_layout
    from ct_keras.inference.predictors import TFLitePredictor
    from ct_keras.models import load_model_dir
    from ct_keras.training.evaluation import evaluate_net, evaluate_outputs

    detect_layout(FLAGS.data_dir)
    model = load_model_dir(FLAGS.model_dir)
    size, thresholds, steps = model.image_hw[0], _edge_thresholds(), FLAGS.max_images or None
    names = [os.path.basename(p) for p in FLAGS.tflite]
    if len(set(names)) < len(names):  # same file names from different exports: show paths
        names = list(FLAGS.tflite)
    predictors = [TFLitePredictor(path, flag="--tflite") for path in FLAGS.tflite]
    for path, predictor in zip(FLAGS.tflite, predictors):
        if predictor.image_hw != tuple(model.image_hw):
            raise ValueError(f"--tflite {path} takes {predictor.image_hw[0]}×{predictor.image_hw[1]} images, but "
                             f"--model_dir {FLAGS.model_dir} is a {model.image_hw[0]}×{model.image_hw[1]} model: "
                             "give the files exported from that run")
    results = {"Keras fp32": {"metrics": evaluate_net(model, FLAGS.data_dir, rule="s", image_size=size,
                                                      batch_size=1, edge_thresholds=thresholds, steps=steps)}}
    for name, predictor in zip(names, predictors):
        agreement = Agreement(predictor, model)
        metrics = evaluate_outputs(agreement, FLAGS.data_dir, size, edge_thresholds=thresholds, steps=steps)
        results[name] = {"metrics": metrics, "agreement": agreement.result()}
    columns = [k for k in results["Keras fp32"]["metrics"] if k != "rule" and not k.endswith("_loss")]
    print(f"The validation images of {FLAGS.data_dir}, rule S (each task over whole images), edges odsF "
          f"over {thresholds} thresholds")
    print("| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r['metrics'].get(c, float('nan')):.2f}" for c in columns) + " |")
    if names:
        tasks = list(results[names[0]]["agreement"])
        print("\nAgreement with Keras fp32 (semseg, parts: % equal pixels; edges, saliency: mean |Δp|; "
              "normals: mean angle °)")
        print("| model | " + " | ".join(tasks) + " |\n" + "|---" * (len(tasks) + 1) + "|")
        for name in names:
            a = results[name]["agreement"]
            print(f"| {name} | " + " | ".join(f"{a[t]:.4g}" for t in tasks) + " |")
    if FLAGS.out:
        from ct_keras.atomic_files import write_json_atomically

        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        write_json_atomically(FLAGS.out, {"edge_thresholds": thresholds, "results": results})


if __name__ == "__main__":
    run(main)

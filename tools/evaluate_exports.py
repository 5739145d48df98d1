"""How much the TFLite exports (fp32 / fp16 / int8) lose against the Keras model, on a
validation split: task metrics next to each other, and agreement with Keras.

    python tools/evaluate_exports.py --model_dir=runs/demo --data_dir=data/synthetic_pascal_mt_easy64 \
        --tflite=exported/demo/tflite/1/model_fp32.tflite,exported/demo/tflite/1/model_int8.tflite

Each task is evaluated over whole images (rule S, as the paper's Table 1). The metrics
are simple, self-contained versions (for comparing exports with each other, not for
papers): semseg / parts mIoU (%, dataset confusion, 255 ignored), edges F (%, best
threshold, exact pixels: no distance tolerance), saliency max mIoU (%, thresholds
0.2…0.9, per image), normals mean angular error (°). Agreement with the Keras model:
class maps % equal pixels, edges / saliency mean |Δp|, normals mean angle (°).
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("model_dir", None, "The training run the exports were made from (the reference).")
flags.DEFINE_string("data_dir", None, "PASCAL-MT with a val split.")
flags.DEFINE_list("tflite", [], "The .tflite files to evaluate.")
flags.DEFINE_integer("max_images", 0, "Validation images to use; 0 = all.")
flags.DEFINE_string("out", None, "Optional JSON file of the results.")
flags.mark_flags_as_required(["model_dir", "data_dir"])
FLAGS = flags.FLAGS

SALIENCY_THRESHOLDS = [0.2 + 0.05 * i for i in range(15)]
EDGE_THRESHOLDS = [0.05 * i for i in range(1, 20)]


class Scores:
    """Accumulates one model's metrics and its agreement with the reference, per task."""

    def __init__(self):
        import numpy as np

        from ct_keras.tasks import NUM_CLASSES, PARTS, SEMSEG

        self.np = np
        self.confusion = {k: np.zeros((n, n), np.int64) for k, n in NUM_CLASSES.items()}
        self.semseg_parts = (SEMSEG, PARTS)
        self.edge_counts = np.zeros((len(EDGE_THRESHOLDS), 3))  # tp, predicted, actual
        self.saliency = []
        self.angles = []
        self.agreement = {k: [] for k in range(5)}

    def add(self, task, value, label, reference):
        np = self.np
        if task in self.semseg_parts:
            valid = label != 255
            n = self.confusion[task].shape[0]
            self.confusion[task] += np.bincount(label[valid] * n + value[valid], minlength=n * n).reshape(n, n)
            self.agreement[task].append(np.mean(value == reference))
        elif task == 2:
            for i, t in enumerate(EDGE_THRESHOLDS):
                predicted = value >= t
                self.edge_counts[i] += (np.sum(predicted & (label > 0.5)), predicted.sum(), np.sum(label > 0.5))
            self.agreement[task].append(np.mean(np.abs(value - reference)))
        elif task == 3:
            truth = label > 0.5
            best = 0.0
            for t in SALIENCY_THRESHOLDS:
                predicted = value >= t
                ious = [np.sum(p & g) / max(np.sum(p | g), 1) for p, g in ((predicted, truth), (~predicted, ~truth))]
                best = max(best, float(np.mean(ious)))
            self.saliency.append(best)
            self.agreement[task].append(np.mean(np.abs(value - reference)))
        else:
            valid = np.linalg.norm(label, axis=-1) > 0
            cos = np.clip(np.sum(value * label, axis=-1), -1, 1)
            self.angles.append(np.degrees(np.arccos(cos[valid])))
            cos_ref = np.clip(np.sum(value * reference, axis=-1), -1, 1)
            self.agreement[task].append(np.mean(np.degrees(np.arccos(cos_ref))))

    def metrics(self):
        np = self.np
        out = {}
        for task, name in zip(self.semseg_parts, ("semseg", "parts")):
            c = self.confusion[task]
            union = c.sum(0) + c.sum(1) - np.diag(c)
            present = union > 0
            out[f"{name} mIoU"] = 100 * float(np.mean(np.diag(c)[present] / union[present]))
        tp, predicted, actual = self.edge_counts.T
        f = 2 * tp / np.maximum(predicted + actual, 1)
        out["edges F"] = 100 * float(f.max())
        out["saliency max mIoU"] = 100 * float(np.mean(self.saliency))
        out["normals mean error"] = float(np.mean(np.concatenate(self.angles))) if self.angles else float("nan")
        agreement = {k: float(np.mean(v)) for k, v in self.agreement.items() if v}
        return out, agreement


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    for path in FLAGS.tflite:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--tflite file {path} does not exist")

    from ai_edge_litert.interpreter import Interpreter

    from ct_keras import tasks
    from ct_keras.data import detect_layout, make_dataset
    from ct_keras.models import load_model_dir

    detect_layout(FLAGS.data_dir)
    model = load_model_dir(FLAGS.model_dir)
    size = tuple(model.image_hw)
    names = [os.path.basename(p) for p in FLAGS.tflite]
    if len(set(names)) < len(names):  # same file names from different exports: show paths
        names = list(FLAGS.tflite)
    runners = {name: Interpreter(model_path=p).get_signature_runner("serving_default")
               for name, p in zip(names, FLAGS.tflite)}
    scores = {"Keras fp32": Scores(), **{name: Scores() for name in runners}}
    count = 0
    for task in range(tasks.NUM_TASKS):
        ds = make_dataset(FLAGS.data_dir, "val", rule="s", task=task, image_size=size, batch_size=1)
        if FLAGS.max_images:
            ds = ds.take(FLAGS.max_images)
        name = tasks.TASK_NAMES[task]
        for inputs, targets in ds:
            image, palette = inputs["image"].numpy(), inputs["palette"].numpy()
            label = targets[name].numpy()[0]
            raw = model({"image": image, "palette": palette}, training=False).numpy()[0]
            reference = tasks.decode(raw, task, model.anchors)
            scores["Keras fp32"].add(task, reference, label, reference)
            for runner_name, runner in runners.items():
                value = runner(image=image, palette=palette)[name][0]
                scores[runner_name].add(task, value, label, reference)
            count += task == 0
    results = {name: dict(zip(("metrics", "agreement"), s.metrics())) for name, s in scores.items()}
    columns = list(results["Keras fp32"]["metrics"])
    print(f"{count} validation images of {FLAGS.data_dir}, each task over whole images")
    print("| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r['metrics'][c]:.2f}" for c in columns) + " |")
    print("\nAgreement with Keras fp32 (semseg, parts: % equal pixels; edges, saliency: mean |Δp|; "
          "normals: mean angle °)")
    print("| model | semseg | parts | edges | saliency | normals |\n|---|---|---|---|---|---|")
    for name, r in results.items():
        a = r["agreement"]
        print(f"| {name} | {100 * a[0]:.2f} | {100 * a[1]:.2f} | {a[2]:.4f} | {a[3]:.4f} | {a[4]:.3f} |")
    if FLAGS.out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        with open(FLAGS.out, "w") as f:
            json.dump({"images": count, "results": results}, f, indent=2)


if __name__ == "__main__":
    run(main)

"""The end of `make demo`: what the demo run learned, against the best constant prediction,
and composite pictures of its predictions.

    python tools/demo.py [--model_dir=runs/demo] [--out=exported/demo]

`make demo` first trains with `tools/train.py --flagfile=configs/demo.cfg` (the synthetic
PASCAL-MT, generated on first use), exports it, then runs this: it reads the run's
metrics.json (rule S evaluation on the validation split), scores the best constant
prediction of each task on the same split, prints both, and writes one picture per
palette rule (R1r, R2): image | Task Palette | composite prediction.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from _cli import run  # noqa: E402

flags.DEFINE_string("model_dir", "runs/demo", "The demo's training run (tools/train.py --flagfile=configs/demo.cfg).")
flags.DEFINE_string("out", "exported/demo", "Where the pictures and the report go.")
flags.DEFINE_integer("seed", 0, "Seed of the pictures' palettes.")
FLAGS = flags.FLAGS

ROWS = (  # (task, metric key, label, higher is better)
    ("semseg", "semseg_miou", "mIoU %", True),
    ("parts", "parts_miou", "mIoU %", True),
    ("edges", "edges_odsf", "odsF %", True),
    ("saliency", "saliency_maxiou", "max-IoU %", True),
    ("normals", "normals_mean_angle", "mean angle °", False),
)


def report(metrics, constant):
    lines = ["| task | metric | trained CTN | best constant | above constant |", "|---|---|---|---|---|"]
    for task, key, label, higher in ROWS:
        better = metrics[key] > constant[key] if higher else metrics[key] < constant[key]
        lines.append(f"| {task} | {label} | {metrics[key]:.2f} | {constant[key]:.2f} | "
                     f"{'yes' if better else 'NO'} |")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import numpy as np
    from PIL import Image

    from ct_keras import tasks
    from ct_keras.data import make_dataset
    from ct_keras.models import load_model_dir
    from ct_keras.models.model_dir import read_flag
    from ct_keras.training.constant_baselines import constant_baselines
    from ct_keras.training.run import read_metrics

    metrics_path = os.path.join(FLAGS.model_dir, "metrics.json")
    if not os.path.isfile(metrics_path):
        raise FileNotFoundError(f"{metrics_path} not found: train first "
                                "(tools/train.py --flagfile=configs/demo.cfg)")
    data_dir = read_flag(FLAGS.model_dir, "data_dir")
    edge_thresholds = int(read_flag(FLAGS.model_dir, "edge_thresholds"))
    net = load_model_dir(FLAGS.model_dir, "best")
    size = net.image_hw[0]
    metrics = read_metrics(metrics_path)
    constant = constant_baselines(data_dir, image_size=size, edge_thresholds=edge_thresholds)
    text = report(metrics, constant)
    os.makedirs(FLAGS.out, exist_ok=True)
    with open(os.path.join(FLAGS.out, "report.md"), "w") as f:
        f.write(text + "\n")
    print(f"Validation split of {data_dir}, rule S (each task over the whole image):\n{text}")

    for rule in ("r1r", "r2"):
        ds = make_dataset(data_dir, "val", rule=rule, image_size=(size, size), batch_size=3,
                          augment=False, seed=FLAGS.seed)
        inputs, _ = next(iter(ds))
        inputs = {k: v.numpy() for k, v in inputs.items()}
        raw = net.predict(inputs, verbose=0)
        rows = [np.concatenate([inputs["image"][i].astype(np.uint8),
                                tasks.colourise_palette(inputs["palette"][i]),
                                tasks.colourise(raw[i], inputs["palette"][i], net.anchors)], axis=1)
                for i in range(len(raw))]
        path = os.path.join(FLAGS.out, f"composite_{rule}.png")
        Image.fromarray(np.concatenate(rows, axis=0)).save(path)
        print(f"Wrote {path} (image | Task Palette | composite prediction)")


if __name__ == "__main__":
    run(main)

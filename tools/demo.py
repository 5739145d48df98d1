"""The end of `make demo`: what the demo run learned, against the best constant prediction,
composite figures of its predictions and its learning curve.

    python tools/demo.py [--model_dir=runs/demo] [--out=exported/demo] [--started_at=UNIX_TIME]

`make demo` first trains with `tools/train.py --flagfile=configs/demo.cfg` (the synthetic
PASCAL-MT, generated on first use), exports it, then runs this: it reads the run's
metrics.json (rule S evaluation on the validation split), scores the best constant
prediction of each task on the same split, prints both (report.md), and writes
composite_r1r.png and composite_r2.png (image | Task Palette | prediction, with the task
and class legend, for validation images) and learning_curve.png (from the run's
history.csv). With --started_at it prints the wall time since then.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model_dir", "runs/demo", "The demo's training run (tools/train.py --flagfile=configs/demo.cfg).")
flags.DEFINE_string("out", "exported/demo", "Where the pictures and the report go.")
flags.DEFINE_integer("seed", 0, "Seed of the pictures' palettes.")
flags.DEFINE_integer("images", 2, "Validation images per figure.")
flags.DEFINE_integer("panel_size", 256, "Height of each figure panel in pixels (whole-pixel enlargement).")
flags.DEFINE_float("started_at", 0, "Unix time the demo started (make demo passes it): prints the wall time.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from ct_keras.deploy.pictures import save_png
    from ct_keras.models import load_model_dir
    from ct_keras.models.model_dir import read_flag
    from ct_keras.training.constant_baselines import constant_baselines
    from ct_keras.training.demo import composite_figures, report_table
    from ct_keras.training.learning_curve import draw_learning_curve, read_history
    from ct_keras.training.run import read_metrics

    metrics_path = os.path.join(FLAGS.model_dir, "metrics.json")
    if not os.path.isfile(metrics_path):
        raise FileNotFoundError(f"{metrics_path} not found: train first "
                                "(tools/train.py --flagfile=configs/demo.cfg)")
    data_dir = read_flag(FLAGS.model_dir, "data_dir")
    edge_thresholds = int(read_flag(FLAGS.model_dir, "edge_thresholds"))
    net = load_model_dir(FLAGS.model_dir, "best")
    metrics = read_metrics(metrics_path)
    constant = constant_baselines(data_dir, image_size=net.image_hw[0], edge_thresholds=edge_thresholds)
    text = report_table(metrics, constant)
    os.makedirs(FLAGS.out, exist_ok=True)
    with open(os.path.join(FLAGS.out, "report.md"), "w") as f:
        f.write(text + "\n")
    print(f"Validation split of {data_dir}, rule S (each task over the whole image), "
          f"{metrics.get('steps', '?')} training steps:\n{text}")

    for rule in ("r1r", "r2"):
        figure = composite_figures(net, data_dir, rule, FLAGS.images, FLAGS.panel_size, FLAGS.seed)
        path = save_png(figure, os.path.join(FLAGS.out, f"composite_{rule}.png"))
        print(f"Wrote {path} (image | Task Palette | prediction, rule {rule})")
    history = os.path.join(FLAGS.model_dir, "history.csv")
    if os.path.isfile(history):
        try:
            path = save_png(draw_learning_curve(read_history(history), constant),
                            os.path.join(FLAGS.out, "learning_curve.png"))
            print(f"Wrote {path} (each task's validation metric per epoch, and its best constant)")
        except ValueError as e:
            print(f"No learning curve: {e}")
    if FLAGS.started_at:
        minutes, seconds = divmod(round(time.time() - FLAGS.started_at), 60)
        print(f"The demo took {minutes} min {seconds} s (training, evaluation, export, pictures).")


if __name__ == "__main__":
    run(main)

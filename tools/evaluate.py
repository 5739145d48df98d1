"""Evaluates a trained model on the PASCAL-MT validation split under a Task Palette rule.

    python tools/evaluate.py --model_dir=runs/r2_ctn --rule=s [--baseline=runs/stn_semseg,runs/stn_parts,…]

Prints the paper's table row (Edge odsF, SemSeg mIoU, Parts mIoU, Normals mean angle,
Saliency max-IoU) and Δm against --baseline; writes the metrics as JSON (default
<model_dir>/metrics.json for rule s, <model_dir>/metrics_<rule>.json for the others).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model_dir", None, "A folder written by tools/train.py.")
flags.DEFINE_string("checkpoint", "best", "best|last.")
flags.DEFINE_string("data_dir", None, "PASCAL-MT; default: the --data_dir the model was trained on.")
flags.DEFINE_string("rule", "s", "s (each task over the whole image) | r1r | rrnd | r2 | r3.")
flags.DEFINE_list("baseline", [], "Baseline for Δm: metrics.json files or folders (e.g. the five "
                "STN runs, merged), comma-separated.")
flags.DEFINE_integer("batch_size", 10, "Batch size.")
flags.DEFINE_integer("seed", 0, "Seed of the validation palettes (R1r, Rrnd).")
flags.DEFINE_integer("edge_thresholds", 99, "Thresholds of the edges odsF (99 = the paper's protocol).")
flags.DEFINE_integer("steps", 0, "Evaluate only this many batches (0 = the whole split).")
flags.DEFINE_string("output", None, "Where to write the metrics JSON.")
flags.DEFINE_bool("skip_bad_samples", False, "Score the readable images only: skip those whose files cannot be "
                  "read or decoded (counted warnings, listed in skipped_samples.log beside the metrics) "
                  "instead of stopping.")
flags.mark_flag_as_required("model_dir")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from ct_keras.data import RULES, detect_layout
    from ct_keras.data.errors import SKIPPED_SAMPLES_LOG, skipped_samples_log
    from ct_keras.models import load_model_dir
    from ct_keras.models.model_dir import read_flag
    from ct_keras.training.evaluation import evaluate_net, summary, write_metrics
    from ct_keras.reproduce.report import read_baseline

    if FLAGS.rule not in RULES:
        raise ValueError(f"--rule: must be one of {RULES}, not {FLAGS.rule!r}")
    baseline = read_baseline(FLAGS.baseline) if FLAGS.baseline else None
    data_dir = FLAGS.data_dir or read_flag(FLAGS.model_dir, "data_dir")
    detect_layout(data_dir)
    net = load_model_dir(FLAGS.model_dir, FLAGS.checkpoint)
    default = "metrics.json" if FLAGS.rule == "s" else f"metrics_{FLAGS.rule}.json"
    output = FLAGS.output or os.path.join(FLAGS.model_dir, default)
    folder = os.path.dirname(os.path.abspath(output))
    with skipped_samples_log(folder if FLAGS.skip_bad_samples else None) as listing:
        metrics = evaluate_net(net, data_dir, rule=FLAGS.rule, image_size=net.image_hw,
                               batch_size=FLAGS.batch_size, seed=FLAGS.seed,
                               edge_thresholds=FLAGS.edge_thresholds, steps=FLAGS.steps or None,
                               verbose=1, skip_bad_samples=FLAGS.skip_bad_samples)
    print(summary(metrics, baseline))
    if listing is not None and listing.skipped:
        metrics["skipped_samples"] = listing.skipped
        print(f"Skipped {listing.skipped} unreadable sample(s): listed in "
              f"{os.path.join(folder, SKIPPED_SAMPLES_LOG)}")
    write_metrics(output, metrics)
    print(f"Wrote {output}")


if __name__ == "__main__":
    run(main)

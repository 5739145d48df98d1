"""Speed, memory and compute of CTN, MHN, five STNs and MN, and optionally of the
authors' PyTorch CTN in the same run (BENCHMARKS.md).

    python tools/benchmark.py --json=bench.json --markdown=bench.md --plot=docs/benchmarks.png
    python tools/benchmark.py --reference_repo=/path/to/composite-tasking --models=ctn --paths=keras
    python tools/benchmark.py --quick --json=/tmp/b.json      # tiny settings, for a smoke test

Training against the authors' (their CTN and ours, one Adam step each, alternating; then
each alone for its peak memory), at the paper's size and at the demo's:

    python tools/benchmark.py --reference_repo=/path/to/composite-tasking --cases=reference_train \
        --train_batch_size=10 --train_repeats=5
    python tools/benchmark.py --reference_repo=/path/to/composite-tasking --cases=reference_train \
        --image_size=64 --backbone=resnet18 --train_batch_size=8 --train_repeats=15

Every case runs in its own subprocess (its peak RSS is its own); every figure is the
median of --repeats timed runs after --warmup untimed ones, with min, max and all runs.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

# Listed here (not imported: TensorFlow would load before the flags are read); a test
# checks it against ct_keras.benchmarking.paths.paths().
PATH_NAMES = ("keras", "xla", "bf16", "mixed_fp16", "fast", "savedmodel", "savedmodel_constants",
              "tflite_fp32", "tflite_fp16", "tflite_dynamic_int8", "tflite_int8")

flags.DEFINE_string("json", None, "Write the full results (every run) to this JSON file.")
flags.DEFINE_string("markdown", None, "Write the tables to this Markdown file.")
flags.DEFINE_string("plot", None, "Write the images/s plot to this PNG file.")
flags.DEFINE_string("reference_repo", None,
                    "A checkout of the authors' composite-tasking repository: also time their "
                    "PyTorch CTN, alternating with ours, and print the ratio.")
flags.DEFINE_list("models", ["ctn", "mhn", "stn", "mn"], "Models: ctn, mhn, stn (five STNs), mn.")
flags.DEFINE_list("paths", ["keras", "xla", "bf16", "fast", "savedmodel", "tflite_fp32",
                            "tflite_dynamic_int8", "tflite_int8", "mixed_fp16"],
                  "Inference paths of the CTN: " + ", ".join(PATH_NAMES) + ".")
flags.DEFINE_list("baseline_paths", ["keras", "bf16", "mixed_fp16"],
                  "Inference paths of MHN, STN and MN (fast and TFLite are the CTN's).")
flags.DEFINE_list("workloads", ["composite", "all"], "composite (R1r palette) and/or all (five tasks).")
flags.DEFINE_list("batch_sizes", ["1", "8"], "Inference batch sizes.")
flags.DEFINE_integer("repeats", 5, "Timed runs per figure (median reported).", lower_bound=1)
flags.DEFINE_integer("warmup", 2, "Untimed runs before timing.", lower_bound=0)
flags.DEFINE_integer("threads", 2, "TensorFlow intra/inter-op and PyTorch threads.", lower_bound=1)
flags.DEFINE_integer("image_size", 256, "Square image size (multiple of 32).")
flags.DEFINE_string("backbone", "resnet34", "Encoder of every model.")
flags.DEFINE_integer("seed", 0, "Seed of the random weights.")
flags.DEFINE_bool("check", True, "Compare each path's outputs with the fp32 Keras graph.")
flags.DEFINE_bool("train", True, "Measure training images/s.")
flags.DEFINE_integer("train_batch_size", 8, "Training batch size.", lower_bound=1)
flags.DEFINE_integer("train_repeats", 3, "Timed training steps.", lower_bound=1)
flags.DEFINE_bool("pipeline", True, "Measure input-pipeline images/s.")
flags.DEFINE_string("data_dir", None, "PASCAL-MT folder for the pipeline (default: a synthetic set).")
flags.DEFINE_list("reference_paths", ["keras", "fast", "bf16", "tflite_int8"],
                  "Our CTN paths timed against the reference.")
flags.DEFINE_integer("reference_batch_size", 1, "Batch of the reference comparison.", lower_bound=1)
flags.DEFINE_integer("reference_repeats", 10, "Alternating rounds against the reference.",
                     lower_bound=1)
flags.DEFINE_string("model_dir", None,
                    "A trained model folder: compare --accuracy_paths' metrics with fp32's on the "
                    "validation split of --data_dir.")
flags.DEFINE_list("accuracy_paths", ["bf16", "tflite_int8"], "Paths whose metrics are compared.")
CASES = ("compute", "reference", "reference_train", "inference", "train", "pipeline", "accuracy")
flags.DEFINE_list("cases", ["compute", "reference", "inference", "train", "pipeline", "accuracy"],
                  "Which parts to run, among " + ", ".join(CASES) + " (reference, reference_train and "
                  "accuracy run only with their flags; reference_train only when named here).")
flags.DEFINE_bool("update_json", False,
                  "Read --json first and replace only the parts this run measures.")
flags.DEFINE_string("from_json", None, "Only render --markdown/--plot from this earlier --json.")
flags.DEFINE_bool("quick", False, "Tiny settings for a smoke test (64², ResNet18, 1 repeat, CTN).")
FLAGS = flags.FLAGS


def settings():
    from ct_keras.benchmarking import models

    s = {name: FLAGS[name].value for name in (
        "models", "paths", "baseline_paths", "workloads", "repeats", "warmup", "threads",
        "image_size", "backbone", "seed", "check", "train", "train_batch_size", "train_repeats",
        "pipeline", "data_dir", "reference_repo", "reference_paths", "reference_batch_size", "reference_repeats",
        "model_dir", "accuracy_paths", "cases")}
    s.update(pipeline_batches=20, pipeline_batch_size=10, pipeline_images=40)
    try:
        s["batch_sizes"] = [int(b) for b in FLAGS.batch_sizes]
    except ValueError:
        raise ValueError(f"--batch_sizes must be integers. Received {FLAGS.batch_sizes}") from None
    if FLAGS.quick:  # tiny defaults; flags given on the command line still win
        quick = dict(image_size=64, backbone="resnet18", batch_sizes=[1], repeats=1, warmup=1,
                     train_batch_size=2, train_repeats=1, reference_repeats=2, models=["ctn"],
                     paths=["keras"], baseline_paths=["keras"])
        s.update({k: v for k, v in quick.items() if not FLAGS[k].present})
        s.update(pipeline_batches=2, pipeline_batch_size=2, pipeline_images=4)
    checks = (("models", models.MODEL_KINDS), ("paths", PATH_NAMES), ("baseline_paths", PATH_NAMES),
              ("reference_paths", PATH_NAMES), ("accuracy_paths", PATH_NAMES),
              ("workloads", ("composite", "all")),
              ("cases", CASES))
    for name, allowed in checks:
        bad = [v for v in s[name] if v not in allowed]
        if bad or not s[name]:
            raise ValueError(f"--{name} must be among {', '.join(allowed)}. Received {s[name]}")
    if min(s["batch_sizes"]) < 1:
        raise ValueError(f"--batch_sizes must be positive. Received {s['batch_sizes']}")
    if s["image_size"] <= 0 or s["image_size"] % 32:
        raise ValueError(f"--image_size must be a positive multiple of 32. Received {s['image_size']}")
    if s["reference_repo"] and not os.path.isdir(s["reference_repo"]):
        raise NotADirectoryError(f"--reference_repo {s['reference_repo']} is not a directory")
    if "reference_train" in s["cases"] and not s["reference_repo"]:
        raise ValueError("--cases=reference_train needs --reference_repo (a checkout of the authors' "
                         "composite-tasking repository)")
    if s["data_dir"] and not os.path.isdir(s["data_dir"]):
        raise NotADirectoryError(f"--data_dir {s['data_dir']} is not a directory")
    if s["model_dir"] and not s["data_dir"]:
        raise ValueError("--model_dir needs --data_dir (the validation set to compare on)")
    if s["model_dir"]:
        from ct_keras.data import detect_layout
        from ct_keras.models.model_dir import checkpoint_path, read_model_description

        read_model_description(s["model_dir"])  # names the folder if it is not a training run
        if not os.path.isfile(checkpoint_path(s["model_dir"], "best")):
            raise FileNotFoundError(f"--model_dir {s['model_dir']} has no best checkpoint "
                                    f"({checkpoint_path(s['model_dir'], 'best')})")
        detect_layout(s["data_dir"])  # names the folder if it is not PASCAL-MT
    return s


def _write(path, write):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        write(f)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from ct_keras.benchmarking import plot, report, runner

    if FLAGS.from_json:  # re-render the tables and plot of an earlier run
        with open(FLAGS.from_json) as f:
            results = json.load(f)
        return _render(results, report, plot)
    s = settings()
    command = " ".join(["python", os.path.relpath(sys.argv[0])] + sys.argv[1:])

    def save(results):  # after every case, so that a long run keeps what it measured
        if command not in results.setdefault("commands", []):
            results["commands"].append(command)
        if FLAGS.json:
            _write(FLAGS.json, lambda f: json.dump(results, f, indent=1))

    earlier = None
    if FLAGS.update_json:
        if not (FLAGS.json and os.path.isfile(FLAGS.json)):
            raise FileNotFoundError(f"--update_json needs an existing --json file. Received {FLAGS.json}")
        with open(FLAGS.json) as f:
            earlier = json.load(f)
    results = runner.run(s, log=lambda line: print(line, file=sys.stderr, flush=True),
                         after_case=save, report=earlier)
    _render(results, report, plot)


def _render(results, report, plot):
    tables = report.markdown(results)
    print(tables)
    if FLAGS.markdown:
        _write(FLAGS.markdown, lambda f: f.write(tables))
    if FLAGS.plot:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.plot)), exist_ok=True)
        plot.draw(results, FLAGS.plot)


if __name__ == "__main__":
    run(main)

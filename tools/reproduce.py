"""Reproduces the paper's tables: trains what a table needs, evaluates it, prints it.

    python tools/reproduce.py --table=4 --scale=smoke --out=runs/reproduce_smoke
    python tools/reproduce.py --table=all --scale=full --data_dir=data/PASCAL_MT --out=runs/paper \
        --train_flags=--encoder_weights=resnet34-b627a593.pth --precision=mixed_float16

Each run keeps its folder under <out>/runs (resumable); a rerun skips what is finished.
Writes <out>/table<N>.json and <out>/table<N>.md. --dry_run lists the jobs and their cost.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("table", "all", "1, 2, 3, 4, all (1–4), ablations (7–15), or a comma list.")
flags.DEFINE_enum("scale", "smoke", ["smoke", "full"],
                  "smoke: the synthetic set on a CPU; full: the paper's recipe on PASCAL-MT.")
# The demo's set (configs/demo.cfg): generated once, by whichever runs first.
SMOKE_DATA = "data/synthetic_pascal_mt_easy64"
flags.DEFINE_string("data_dir", None, "PASCAL-MT (full) or where the synthetic set goes (smoke; "
                    f"default {SMOKE_DATA}, the demo's).")
flags.DEFINE_string("out", None, "Folder of the runs, the evaluations and the tables.")
flags.DEFINE_bool("dry_run", False, "List the jobs, their commands and the cost; run nothing.")
flags.DEFINE_multi_string("train_flags", [], "A flag for every training run, e.g. "
                          "--train_flags=--encoder_weights=resnet34.pth (repeat for more).")
flags.DEFINE_string("precision", None, "Passed to every training run (float32|mixed_float16|mixed_bfloat16).")
flags.DEFINE_string("distribution_strategy", None, "Passed to every training run.")
flags.mark_flag_as_required("out")
FLAGS = flags.FLAGS


def _passthrough():
    extra = list(FLAGS.train_flags)
    for flag in ("precision", "distribution_strategy"):
        if FLAGS[flag].value:
            extra.append(f"--{flag}={FLAGS[flag].value}")
    bad = [f for f in extra if not f.startswith("--") or "=" not in f]
    if bad:
        raise ValueError(f"--train_flags: each must look like --flag=value. Received {bad}")
    # The plan sets these itself (each run's folder, its start, and the rule of its final
    # evaluation, which a row under that rule reuses).
    owned = [f for f in extra if f.split("=", 1)[0] in ("--model_dir", "--data_dir", "--init_weights",
                                                         "--final_rule")]
    if owned:
        raise ValueError(f"--train_flags: {owned} are set by the plan (use --out / --data_dir)")
    return tuple(extra)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from ct_keras.reproduce import execute, paper_tables, plan, report

    tables = paper_tables.tables(FLAGS.table)
    scale = plan.SCALES[FLAGS.scale]
    data_dir = FLAGS.data_dir or (SMOKE_DATA if FLAGS.scale == "smoke" else None)
    if data_dir is None:
        raise ValueError("--data_dir: required with --scale=full (a PASCAL-MT folder)")
    if FLAGS.scale == "full" and not os.path.isdir(data_dir):
        raise FileNotFoundError(f"--data_dir: {data_dir} does not exist")
    data_dir, out = os.path.abspath(data_dir), os.path.abspath(FLAGS.out)
    passthrough = _passthrough()
    runs, evaluations = plan.plan(tables, scale, data_dir, passthrough, out=out)
    tools = os.path.join(ROOT, "tools")
    jobs = execute.jobs(runs, evaluations, out, data_dir, scale,
                        os.path.join(tools, "train.py"), os.path.join(tools, "evaluate.py"))
    if FLAGS.dry_run:
        pending = [r for r in runs if not r.done(out)]
        for name, command, done, _ in jobs:
            print(f"{'done   ' if done else 'pending'} {name}\n        {' '.join(command)}")
        steps = sum(r.steps for r in pending)
        cost = (f", about {steps * scale.seconds_per_step / 3600:.1f} h of training on 2 CPU cores"
                if scale.seconds_per_step else "")
        print(f"{len(pending)} of {len(runs)} training runs to do: {steps:,} steps{cost}; "
              f"{sum(not d for _, _, d, _ in jobs) - len(pending)} evaluations")
        return
    try:
        execute.run_jobs(jobs, out, cwd=ROOT, seconds_per_step=scale.seconds_per_step)
    except execute.JobFailed as e:
        sys.exit(f"error: {e}")
    for table in tables:
        rows = report.table_rows(table, scale, out, data_dir, passthrough)
        print(report.write_table(table, rows, FLAGS.scale, out))


if __name__ == "__main__":
    run(main)

"""Runs a plan's jobs one after another, skipping the finished ones.

Each job is a command of the tools (`tools/train.py`, `tools/evaluate.py`), run in a child
process whose output goes to `<out>/logs/<job>.log`. A job is finished when the file it
writes last is there (a run's `metrics.json`, an evaluation's JSON, both written
atomically), so a rerun after a kill skips what was done and the killed training resumes
from its own backup.
"""

import os
import subprocess
import sys
import time


class JobFailed(RuntimeError):
    """A training or evaluation of the plan exited with an error; its log says why."""


def train_command(train_tool, run, out):
    return [sys.executable, train_tool, *run.train_flags(out)]


def evaluate_command(evaluate_tool, evaluation, out, data_dir, edge_thresholds):
    return [sys.executable, evaluate_tool, f"--model_dir={os.path.join(out, 'runs', evaluation.run)}",
            f"--data_dir={data_dir}", f"--rule={evaluation.rule}", f"--edge_thresholds={edge_thresholds}",
            f"--output={evaluation.output(out)}"]


def jobs(runs, evaluations, out, data_dir, scale, train_tool, evaluate_tool):
    """`[(name, command, done)]` in the order they must run."""
    listed = [(f"train {r.name}", train_command(train_tool, r, out), r.done(out)) for r in runs]
    for e in evaluations:
        if e.rule != "s":  # rule S is each run's own final evaluation
            listed.append((f"evaluate {e.run} under {e.rule}",
                           evaluate_command(evaluate_tool, e, out, data_dir, scale.edge_thresholds),
                           e.done(out)))
    return listed


def _log_path(out, name):
    return os.path.join(out, "logs", name.replace(" ", "_") + ".log")


def run_jobs(listed, out, cwd, print_fn=print):
    """Runs the jobs that are not done; returns how many ran. A failure raises `JobFailed`
    naming the job and its log (after its last lines), and stops: the later jobs may need it."""
    ran = 0
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    for i, (name, command, done) in enumerate(listed, 1):
        if done:
            print_fn(f"[{i}/{len(listed)}] {name}: done already")
            continue
        log = _log_path(out, name)
        print_fn(f"[{i}/{len(listed)}] {name} … (log: {log})")
        start = time.time()
        with open(log, "a") as f:
            f.write("$ " + " ".join(command) + "\n")
            f.flush()
            code = subprocess.run(command, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL).returncode
        if code:
            with open(log) as f:
                tail = "".join(f.readlines()[-15:])
            raise JobFailed(f"{name} failed (exit code {code}); the end of {log}:\n{tail}")
        print_fn(f"[{i}/{len(listed)}] {name}: {time.time() - start:.0f} s")
        ran += 1
    return ran

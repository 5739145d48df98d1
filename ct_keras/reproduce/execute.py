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
    """`[(name, command, done, steps)]` in the order they must run (`steps`: the training
    steps of a run, 0 for an evaluation)."""
    listed = [(f"train {r.name}", train_command(train_tool, r, out), r.done(out), r.steps) for r in runs]
    for e in evaluations:
        if not e.in_run:  # else the run's own final evaluation
            listed.append((f"evaluate {e.run} under {e.rule}",
                           evaluate_command(evaluate_tool, e, out, data_dir, scale.edge_thresholds),
                           e.done(out), 0))
    return listed


def _duration(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


class _Progress:
    """Elapsed time, and the time left estimated from the training steps left at the rate
    measured so far (the scale's own estimate before the first run ends)."""

    def __init__(self, listed, seconds_per_step):
        self.start = time.time()
        self.steps_left = sum(steps for _, _, done, steps in listed if not done)
        self.seconds_per_step = seconds_per_step
        self.steps_done = self.seconds_done = 0

    def job_done(self, steps, seconds):
        self.steps_left -= steps
        if steps:
            self.steps_done += steps
            self.seconds_done += seconds

    def line(self):
        rate = self.seconds_done / self.steps_done if self.steps_done else self.seconds_per_step
        left = f", about {_duration(self.steps_left * rate)} of training left" if rate and self.steps_left else ""
        return f"elapsed {_duration(time.time() - self.start)}{left}"


def _log_path(out, name):
    return os.path.join(out, "logs", name.replace(" ", "_") + ".log")


def run_jobs(listed, out, cwd, print_fn=print, seconds_per_step=None):
    """Runs the jobs that are not done; returns how many ran. A failure raises `JobFailed`
    naming the job and its log (after its last lines), and stops: the later jobs may need it.
    Each job prints a progress line (k of n, elapsed, training time left)."""
    ran = 0
    progress = _Progress(listed, seconds_per_step)
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    for i, (name, command, done, steps) in enumerate(listed, 1):
        if done:
            print_fn(f"[{i}/{len(listed)}] {name}: done already")
            continue
        log = _log_path(out, name)
        print_fn(f"[{i}/{len(listed)}] {name} … (log: {log}; {progress.line()})")
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
        progress.job_done(steps, time.time() - start)
        print_fn(f"[{i}/{len(listed)}] {name}: {_duration(time.time() - start)} ({progress.line()})")
        ran += 1
    return ran

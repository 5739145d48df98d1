"""What a table needs: its training runs and evaluations, as commands of the tools.

A `Run` is one `tools/train.py` job (its folder is `<out>/runs/<name>`, resumable, finished
once `metrics.json` is there); an `Evaluation` is one `tools/evaluate.py` job (finished once
its JSON is there). Runs shared by several rows or tables are planned once.
"""

import dataclasses
import json
import os

from ct_keras.reproduce.paper_tables import CHOSEN
from ct_keras.tasks import TASK_NAMES


@dataclasses.dataclass(frozen=True)
class Scale:
    """The training recipe of a scale; `flags` go to every run, `finetune` replace
    the epoch flags of the R2 → R3 fine-tuning."""

    name: str
    flags: tuple
    steps: int                  # training steps of one run (for the cost estimate)
    finetune: tuple
    finetune_steps: int
    seconds_per_step: float = None   # measured on a 2-core CPU; None = not estimated
    defaults: tuple = ()        # knob values this scale already uses
    model_options: tuple = ()   # `(name, value)` of its --model_options (rows' join them)
    edge_thresholds: int = 99


SCALES = {
    # The demo's recipe (configs/demo.cfg: the "easy" synthetic set, ResNet18 at 64² from
    # scratch, 1×1 decoder kernels, 10 epochs of 96 steps of batch 8, bfloat16 where the CPU
    # has it), so that what improves the demo improves the smoke tables; the R2 → R3
    # fine-tuning is 2 more epochs. `model_options` repeats the demo file's --model_options
    # (tests/test_reproduce.py checks they agree).
    "smoke": Scale(
        "smoke",
        ("--flagfile=configs/demo.cfg", "--validation_metrics=false", "--log_pictures=false",
         "--overwrite=false"),
        steps=960, finetune=("--epochs=2", "--milestones=1"), finetune_steps=192,
        seconds_per_step=0.6, defaults=(("backbone", "resnet18"),),
        model_options=(("decoder_kernel_size", "1"),), edge_thresholds=15),
    # The paper's recipe (configs/base.cfg: ResNet34, 256², 100 epochs of batch 10, Adam
    # 1e-3 / 1e-5 for the ImageNet encoder, ×0.3 at epochs 60/80/94); R2 → R3 as
    # configs/r3_from_r2.cfg. Pass --encoder_weights through --train_flags.
    "full": Scale("full", ("--flagfile=configs/base.cfg",), steps=100 * 4998 // 10,
                  finetune=("--epochs=30", "--milestones=20"), finetune_steps=30 * 4998 // 10),
}


# Rules whose palettes do not depend on a seed: a run's own final evaluation under one of them
# is what tools/evaluate.py would print, so a row under it can reuse the run's metrics.json.
IN_RUN_RULES = ("s", "r2", "r3")


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    flags: tuple
    steps: int
    after: str = ""             # the run whose best checkpoint this one starts from
    final_rule: str = "s"       # the rule of its own final evaluation (metrics.json)

    def model_dir(self, out):
        return os.path.join(out, "runs", self.name)

    def train_flags(self, out):
        start = (f"--init_weights={os.path.join(out, 'runs', self.after)}",) if self.after else ()
        final = (f"--final_rule={self.final_rule}",) if self.final_rule != "s" else ()
        return (*self.flags, *start, *final, f"--model_dir={self.model_dir(out)}")

    def done(self, out):
        return os.path.isfile(os.path.join(self.model_dir(out), "metrics.json"))


def final_rule_of(out, run_name):
    """The rule of a finished run's own final evaluation (its metrics.json), or None."""
    path = os.path.join(out, "runs", run_name, "metrics.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f).get("rule", "s")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    run: str
    rule: str
    in_run: bool = False        # the run's own final evaluation: no job of its own

    def output(self, out):
        if self.in_run or final_rule_of(out, self.run) == self.rule:
            return os.path.join(out, "runs", self.run, "metrics.json")
        return os.path.join(out, "evals", f"{self.run}.{self.rule}.json")

    def done(self, out):
        return os.path.isfile(self.output(out))


def _knob_suffix(row, scale):
    suffix = []
    defaults = {**dict(scale.defaults), **dict(scale.model_options)}
    for flag, value in row.knob:
        name, _, setting = value.partition("=") if flag == "model_options" else (flag, "", value)
        if setting != defaults.get(name, CHOSEN.get(name)):
            suffix.append(f"{name}-{setting}")
    return "_".join(suffix)


def _knob_flags(row, scale):
    """A row's knob as flags; a model option joins the scale's own --model_options (one
    list flag replaces the other, so the row's must hold them all)."""
    flags, options = [], dict(scale.model_options)
    for flag, value in row.knob:
        if flag == "model_options":
            name, _, setting = value.partition("=")
            options[name] = setting
        else:
            flags.append(f"--{flag}={value}")
    if any(flag == "model_options" for flag, _ in row.knob):
        flags.append("--model_options=" + ",".join(f"{k}={v}" for k, v in options.items()))
    return tuple(flags)


def row_runs(row, scale, data_dir, passthrough=()):
    """The runs a row's numbers come from, first the ones others start from."""
    common = (*scale.flags, f"--data_dir={data_dir}")  # after a flagfile, which may name another
    suffix = _knob_suffix(row, scale)
    # A knob at the scale's own setting is the plain run.
    knob = _knob_flags(row, scale) if suffix else ()
    if row.model == "stn":
        return [Run(f"stn_{row.train_rule}_{task}",
                    (*common, "--model=stn", f"--task={task}", f"--rule={row.train_rule}", *passthrough),
                    scale.steps) for task in TASK_NAMES]
    if row.train_rule == "r2>r3":
        first = Run(f"{row.model}_r2", (*common, f"--model={row.model}", "--rule=r2", *passthrough),
                    scale.steps)
        return [first, Run(f"{row.model}_r2_to_r3", (*common, f"--model={row.model}", "--rule=r3",
                                                     *scale.finetune, *passthrough),
                           scale.finetune_steps, after=first.name)]
    name = f"{row.model}_{row.train_rule}" + (f"_{suffix}" if suffix else "")
    return [Run(name, (*common, f"--model={row.model}", f"--rule={row.train_rule}", *knob, *passthrough),
                scale.steps)]


def row_evaluations(row, scale, data_dir, passthrough=()):
    """The evaluations a row merges (the five STNs, or the one model's)."""
    runs = row_runs(row, scale, data_dir, passthrough)
    return [Evaluation(run.name, row.eval_rule) for run in (runs if row.model == "stn" else runs[-1:])]


def _final_rule(wanted, finished):
    """A run's final rule: what it already used if it is finished, else rule S where a row
    wants it (or none asks anything), else the first rule wanted that the run can evaluate
    itself — which saves a job, and the rule-S evaluation that no row reads (under S an
    R2-trained net draws edges over whole images, whose matching is the slow part)."""
    if finished:
        return finished
    if "s" in wanted or not wanted:
        return "s"
    return next((rule for rule in wanted if rule in IN_RUN_RULES), "s")


def plan(tables, scale, data_dir, passthrough=(), out=None):
    """`(runs, evaluations)` of `tables`, each once, in an order that can run. With `out`,
    runs it already finished keep the final rule they were trained with."""
    runs, evaluations = {}, {}
    for table in tables:
        for row in table.rows:
            for run in row_runs(row, scale, data_dir, passthrough):
                if runs.setdefault(run.name, run) != run:
                    raise ValueError(f"Two different runs are both called {run.name}")
            for evaluation in row_evaluations(row, scale, data_dir, passthrough):
                evaluations.setdefault((evaluation.run, evaluation.rule), evaluation)
    for name, run in runs.items():
        wanted = [rule for (run_name, rule) in evaluations if run_name == name]
        finished = final_rule_of(out, name) if out else None
        runs[name] = dataclasses.replace(run, final_rule=_final_rule(wanted, finished))
    evaluations = [dataclasses.replace(e, in_run=e.rule == runs[e.run].final_rule)
                   for e in evaluations.values()]
    return list(runs.values()), evaluations

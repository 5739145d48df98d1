"""What a table needs: its training runs and evaluations, as commands of the tools.

A `Run` is one `tools/train.py` job (its folder is `<out>/runs/<name>`, resumable, finished
once `metrics.json` is there); an `Evaluation` is one `tools/evaluate.py` job (finished once
its JSON is there). Runs shared by several rows or tables are planned once.
"""

import dataclasses
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
    edge_thresholds: int = 99


SCALES = {
    # The demo's recipe (configs/demo.cfg: the "easy" synthetic set, ResNet18 at 64² from
    # scratch, 10 epochs of 96 steps of batch 8, bfloat16 where the CPU has it), so that what
    # improves the demo improves the smoke tables; the R2 → R3 fine-tuning is 2 more epochs.
    "smoke": Scale(
        "smoke",
        ("--flagfile=configs/demo.cfg", "--validation_metrics=false", "--log_pictures=false",
         "--overwrite=false"),
        steps=960, finetune=("--epochs=2", "--milestones=1"), finetune_steps=192,
        seconds_per_step=0.6, defaults=(("backbone", "resnet18"),), edge_thresholds=15),
    # The paper's recipe (configs/base.cfg: ResNet34, 256², 100 epochs of batch 10, Adam
    # 1e-3 / 1e-5 for the ImageNet encoder, ×0.3 at epochs 60/80/94); R2 → R3 as
    # configs/r3_from_r2.cfg. Pass --encoder_weights through --train_flags.
    "full": Scale("full", ("--flagfile=configs/base.cfg",), steps=100 * 4998 // 10,
                  finetune=("--epochs=30", "--milestones=20"), finetune_steps=30 * 4998 // 10),
}


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    flags: tuple
    steps: int
    after: str = ""             # the run whose best checkpoint this one starts from

    def model_dir(self, out):
        return os.path.join(out, "runs", self.name)

    def train_flags(self, out):
        start = (f"--init_weights={os.path.join(out, 'runs', self.after)}",) if self.after else ()
        return (*self.flags, *start, f"--model_dir={self.model_dir(out)}")

    def done(self, out):
        return os.path.isfile(os.path.join(self.model_dir(out), "metrics.json"))


@dataclasses.dataclass(frozen=True)
class Evaluation:
    run: str
    rule: str

    def output(self, out):
        # Each run's own final evaluation is rule S (train.py's --final_rule default).
        if self.rule == "s":
            return os.path.join(out, "runs", self.run, "metrics.json")
        return os.path.join(out, "evals", f"{self.run}.{self.rule}.json")

    def done(self, out):
        return os.path.isfile(self.output(out))


def _knob_suffix(row, scale):
    suffix = []
    defaults = dict(scale.defaults)
    for flag, value in row.knob:
        name, _, setting = value.partition("=") if flag == "model_options" else (flag, "", value)
        if setting != defaults.get(name, CHOSEN.get(name)):
            suffix.append(f"{name}-{setting}")
    return "_".join(suffix)


def row_runs(row, scale, data_dir, passthrough=()):
    """The runs a row's numbers come from, first the ones others start from."""
    common = (*scale.flags, f"--data_dir={data_dir}")  # after a flagfile, which may name another
    suffix = _knob_suffix(row, scale)
    # A knob at the scale's own setting is the plain run.
    knob = tuple(f"--{flag}={value}" for flag, value in row.knob) if suffix else ()
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


def plan(tables, scale, data_dir, passthrough=()):
    """`(runs, evaluations)` of `tables`, each once, in an order that can run."""
    runs, evaluations = {}, {}
    for table in tables:
        for row in table.rows:
            for run in row_runs(row, scale, data_dir, passthrough):
                if runs.setdefault(run.name, run) != run:
                    raise ValueError(f"Two different runs are both called {run.name}")
            for evaluation in row_evaluations(row, scale, data_dir, passthrough):
                evaluations.setdefault((evaluation.run, evaluation.rule), evaluation)
    return list(runs.values()), list(evaluations.values())

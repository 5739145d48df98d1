"""tools/reproduce.py: the paper's tables as runs, resumable, printed beside the paper's."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ct_keras.reproduce import paper_tables, plan, report
from ct_keras.reproduce.paper_tables import TABLES, tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = plan.SCALES["smoke"]
TINY = ("--synthetic=6,3", "--epochs=1", "--steps_per_epoch=2", "--validation_steps=1", "--batch_size=2",
        "--image_size=32", "--edge_thresholds=3", "--backup_every=1")


def test_paper_numbers_and_baselines():
    # Spot checks against the paper (main text Tables 1–4, supplementary 7–15).
    assert TABLES["1"].rows[4].paper == (68.60, 62.45, 52.59, 16.93, 67.81)
    assert TABLES["2"].rows[-1].paper_delta_m == -2.37
    assert TABLES["3"].columns == ("edges_odsf", "parts_miou", "normals_mean_angle", "saliency_maxiou")
    assert [r.eval_rule for r in TABLES["3"].rows if r.baseline] == ["r3", "r2"]
    assert TABLES["11"].rows[3].paper == (52.80, 36.46, 13.69, 67.60, 44.93)
    for table in TABLES.values():
        assert all(len(r.paper) == len(table.columns) for r in table.rows), table.number
        if table.number in ("1", "2"):
            # The paper's Δm reproduced from its own numbers by our delta_m (to rounding).
            base = dict(zip(table.columns, table.rows[0].paper))
            for row in table.rows:
                ours = report.delta_m(dict(zip(table.columns, row.paper)), base)
                assert ours == pytest.approx(row.paper_delta_m, abs=0.06), (table.number, row)
    assert [t.number for t in tables("ablations")] == [str(n) for n in range(7, 16)]
    with pytest.raises(ValueError, match="--table: .*not '5'"):
        tables("1,5")


def test_plan_shares_runs_and_orders_the_fine_tuning():
    runs, evaluations = plan.plan(tables("all"), SMOKE, "/data")
    names = [r.name for r in runs]
    assert len(names) == len(set(names)) == 23
    assert {f"stn_r2_{t}" for t in ("semseg", "parts", "edges", "saliency", "normals")} <= set(names)
    finetune = runs[names.index("ctn_r2_to_r3")]
    assert finetune.after == "ctn_r2" and names.index("ctn_r2") < names.index("ctn_r2_to_r3")
    flags = finetune.train_flags("/out")
    assert "--rule=r3" in flags and "--init_weights=/out/runs/ctn_r2" in flags
    assert flags[-1] == "--model_dir=/out/runs/ctn_r2_to_r3"
    assert ("ctn_r1r", "rrnd") in {(e.run, e.rule) for e in evaluations}
    # Ablations: the setting the paper chose is the plain R1r run; the others change one knob.
    runs, _ = plan.plan(tables("11"), SMOKE, "/data")
    by_name = {r.name: r for r in runs}
    assert sorted(by_name) == ["ctn_r1r", "ctn_r1r_mlp_depth-12", "ctn_r1r_mlp_depth-3", "ctn_r1r_mlp_depth-9"]
    assert "--model_options=decoder_kernel_size=1,mlp_depth=3" in by_name["ctn_r1r_mlp_depth-3"].flags
    assert not any(f.startswith("--model_options") for f in by_name["ctn_r1r"].flags)
    # Smoke trains ResNet18, so the backbone table's chosen ResNet34 is a run of its own.
    runs, _ = plan.plan(tables("13"), SMOKE, "/data")
    assert sorted(r.name for r in runs)[0] == "ctn_r1r"
    assert "ctn_r1r_backbone-resnet34" in {r.name for r in runs}


def test_smoke_model_options_are_the_demo_files_and_join_each_rows():
    with open(os.path.join(ROOT, "configs", "demo.cfg")) as f:
        lines = [line.strip() for line in f if line.startswith("--model_options=")]
    assert lines == ["--model_options=" + ",".join(f"{k}={v}" for k, v in SMOKE.model_options)]
    # The demo's 1×1 decoder is the plain run of Table 8; the paper's 3×3 is a run of its own.
    runs, _ = plan.plan(tables("8"), SMOKE, "/data")
    by_name = {r.name: r for r in runs}
    assert sorted(by_name) == ["ctn_r1r", "ctn_r1r_decoder_kernel_size-3"]
    assert "--model_options=decoder_kernel_size=3" in by_name["ctn_r1r_decoder_kernel_size-3"].flags
    # Another table's knob keeps the demo's kernels (a later list flag replaces the file's).
    runs, _ = plan.plan(tables("7"), SMOKE, "/data")
    flags = {r.name: r.flags for r in runs}["ctn_r1r_num_shared_convs-2"]
    assert [f for f in flags if f.startswith("--model_options")] == [
        "--model_options=decoder_kernel_size=1,num_shared_convs=2"]
    # The full scale has no model options of its own.
    runs, _ = plan.plan(tables("7"), plan.SCALES["full"], "/data")
    flags = {r.name: r.flags for r in runs}["ctn_r1r_num_shared_convs-2"]
    assert "--model_options=num_shared_convs=2" in flags


def test_a_run_evaluates_itself_under_the_rule_its_rows_want(tmp_path):
    from ct_keras.reproduce import execute

    runs, evaluations = plan.plan(tables("3"), SMOKE, "/data")
    finals = {r.name: r.final_rule for r in runs}
    # No Table 3 row reads rule S: each run's final evaluation is one of its rows.
    assert finals == {"ctn_r3": "r3", "ctn_r2": "r3", "ctn_r2_to_r3": "r3"}
    assert "--final_rule=r3" in runs[0].train_flags("/out")
    listed = execute.jobs(runs, evaluations, "/out", "/data", SMOKE, "train.py", "evaluate.py")
    assert [name for name, *_ in listed] == [
        "train ctn_r3", "train ctn_r2", "train ctn_r2_to_r3", "evaluate ctn_r2 under r2",
        "evaluate ctn_r2_to_r3 under r2"]
    # Table 4's rows want rule S of both runs (and Rrnd, whose palettes are drawn from a seed).
    runs, evaluations = plan.plan(tables("4"), SMOKE, "/data")
    assert {r.final_rule for r in runs} == {"s"}
    assert {(e.run, e.rule) for e in evaluations if not e.in_run} == {("ctn_r1r", "rrnd"), ("ctn_rrnd", "rrnd")}
    # A run finished under another final rule keeps it; its row gets a job of its own.
    _write(str(tmp_path / "runs" / "ctn_r3" / "metrics.json"), {"rule": "s", "steps": 960})
    runs, evaluations = plan.plan(tables("3"), SMOKE, "/data", out=str(tmp_path))
    assert {r.name: r.final_rule for r in runs}["ctn_r3"] == "s"
    r3 = next(e for e in evaluations if e.run == "ctn_r3")
    assert not r3.in_run and r3.output(str(tmp_path)).endswith("evals/ctn_r3.r3.json")
    _write(str(tmp_path / "runs" / "ctn_r2" / "metrics.json"), {"rule": "r3", "steps": 960})
    # The report finds a row under a run's own final rule in its metrics.json.
    assert plan.Evaluation("ctn_r2", "r3").output(str(tmp_path)).endswith("runs/ctn_r2/metrics.json")
    assert plan.Evaluation("ctn_r2", "r2").output(str(tmp_path)).endswith("evals/ctn_r2.r2.json")


def _write(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f)


def test_rows_merge_the_single_task_nets_and_take_dm_against_the_baseline(tmp_path):
    table = paper_tables.Table("x", "test", ("semseg_miou", "normals_mean_angle"), (
        paper_tables.Row("stn", "s", "s", (50.0, 20.0), 0.0, baseline=True),
        paper_tables.Row("ctn", "r1r", "s", (40.0, 25.0), -22.5),
        paper_tables.Row("ctn", "rrnd", "s", (1.0, 1.0), None)))
    out = str(tmp_path)
    for task, metrics in (("semseg", {"semseg_miou": 50.0}), ("normals", {"normals_mean_angle": 20.0}),
                          ("parts", {}), ("edges", {}), ("saliency", {})):
        _write(os.path.join(out, "runs", f"stn_s_{task}", "metrics.json"), {**metrics, "rule": "s"})
    _write(os.path.join(out, "runs", "ctn_r1r", "metrics.json"),
           {"semseg_miou": 45.0, "normals_mean_angle": 22.0, "parts_miou": 1.0})
    rows = report.table_rows(table, SMOKE, out, "/data")
    assert rows[0]["metrics"]["semseg_miou"] == 50.0 and rows[0]["delta_m"] == 0.0
    # Δm over the table's columns only: (45-50)/50 and -(22-20)/20 → -10 %.
    assert rows[1]["delta_m"] == pytest.approx(-10.0)
    assert rows[2]["metrics"] is None and rows[2]["delta_m"] is None  # not run yet
    text = report.markdown(table, rows, "smoke")
    assert "| S | S | STN | 50.00 (50.00) | 20.00 (20.00) | 0.00 (0.00) |" in text
    assert "| R1r | S | CTN | 45.00 (40.00) | 22.00 (25.00) | -10.00 (-22.50) |" in text
    assert "| Rrnd | S | CTN | – (1.00) | – (1.00) |  |" in text


def test_baseline_files_and_folders(tmp_path):
    _write(str(tmp_path / "stn" / "a" / "metrics.json"), {"semseg_miou": 1.0, "rule": "s"})
    _write(str(tmp_path / "stn" / "b" / "metrics.json"), {"parts_miou": 2.0, "rule": "s"})
    _write(str(tmp_path / "other.json"), {"edges_odsf": 3.0})
    merged = report.read_baseline([str(tmp_path / "stn"), str(tmp_path / "other.json")])
    assert merged == {"semseg_miou": 1.0, "rule": "s", "parts_miou": 2.0, "edges_odsf": 3.0}
    _write(str(tmp_path / "clash.json"), {"semseg_miou": 9.0})
    with pytest.raises(ValueError, match="semseg_miou is 1.0 in .*a/metrics.json but 9.0 in .*clash.json"):
        report.read_baseline([str(tmp_path / "stn"), str(tmp_path / "clash.json")])
    with pytest.raises(FileNotFoundError, match="--baseline: .*missing does not exist"):
        report.read_baseline([str(tmp_path / "missing")])


def _reproduce(out, data_dir, *extra, **kwargs):
    args = [sys.executable, os.path.join(ROOT, "tools", "reproduce.py"), "--table=4", "--scale=smoke",
            f"--out={out}", f"--data_dir={data_dir}", *[f"--train_flags={f}" for f in TINY], *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kwargs)


def test_dry_run_lists_the_jobs_and_the_cost(tmp_path):
    result = _reproduce(tmp_path / "out", tmp_path / "data", "--dry_run").communicate(timeout=300)[0]
    assert "pending train ctn_r1r" in result and "pending evaluate ctn_r1r under rrnd" in result
    assert "2 of 2 training runs to do: 1,920 steps" in result
    assert not (tmp_path / "out").exists()
    result = _reproduce(tmp_path / "out", tmp_path / "data", "--dry_run",
                        "--train_flags=--final_rule=r2").communicate(timeout=300)[0]
    assert "error: --train_flags: ['--final_rule=r2'] are set by the plan" in result


@pytest.mark.slow
def test_a_killed_reproduction_resumes_without_retraining_finished_runs(tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    first = _reproduce(out, data)
    done = out / "runs" / "ctn_r1r" / "metrics.json"
    deadline = time.time() + 900
    while not (done.exists() and (out / "logs" / "train_ctn_rrnd.log").exists()):
        assert first.poll() is None, first.stdout.read()
        assert time.time() < deadline, "the first run did not finish in time"
        time.sleep(1)
    os.killpg(first.pid, signal.SIGKILL)  # the reproduction and the training it runs
    first.wait()
    finished = os.path.getmtime(out / "runs" / "ctn_r1r" / "checkpoints" / "best.weights.h5")

    output = _reproduce(out, data).communicate(timeout=900)[0]
    assert "train ctn_r1r: done already" in output, output
    assert os.path.getmtime(out / "runs" / "ctn_r1r" / "checkpoints" / "best.weights.h5") == finished
    with open(out / "table4.json") as f:
        table = json.load(f)
    assert [(r["train_rule"], r["eval_rule"], r["model"]) for r in table["rows"]] == [
        ("r1r", "s", "ctn"), ("r1r", "rrnd", "ctn"), ("rrnd", "rrnd", "ctn"), ("rrnd", "s", "ctn")]
    # Parts is scored only where a person has parts: these few validation images may have none,
    # and then the task is left out rather than scored 0.
    from ct_keras.data.layout import open_pascal_mt

    reader = open_pascal_mt(str(data), "val")
    has_parts = any((reader.read(i)["parts"] != 255).any() for i in range(len(reader)))
    for row in table["rows"]:
        assert {"semseg_miou", "normals_mean_angle", "saliency_maxiou"} <= set(row["metrics"])
        assert ("parts_miou" in row["metrics"]) == has_parts
    assert "**Table 4:" in (out / "table4.md").read_text()
    assert "| R1r | Rrnd | CTN |" in output

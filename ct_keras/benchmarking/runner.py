"""The whole benchmark: one subprocess per case (`worker`), results gathered into one dict."""

import json
import os
import subprocess
import sys
import time

from ct_keras.benchmarking.worker import MARKER

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_case(case, timeout=3600, log=print):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    label = " ".join(str(case[k]) for k in ("case", "model", "path") if k in case)
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "ct_keras.benchmarking.worker", json.dumps(case)],
                              capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        result = {"status": "error", "note": f"timed out after {timeout} s"}
    else:
        lines = [l for l in proc.stdout.splitlines() if l.startswith(MARKER)]
        result = (json.loads(lines[-1][len(MARKER):]) if lines else
                  {"status": "error", "note": f"worker exited {proc.returncode}: {proc.stderr[-1500:]}"})
    result["wall_s"] = round(time.perf_counter() - start, 1)
    log(f"[{result['wall_s']:7.1f} s] {label}: {result['status']} {result.get('note', '')}".rstrip())
    return result


def cases(settings):
    """The case dicts of a run, in the order they run (the reference early: it is the
    comparison that matters most, and a broken checkout should show at once)."""
    every = cases_of(settings)
    return [c for c in every if c["case"] in settings.get("cases", DEFAULT_CASES)]


CASE_KINDS = ("compute", "reference", "reference_train", "inference", "train", "pipeline", "accuracy")
DEFAULT_CASES = tuple(k for k in CASE_KINDS if k != "reference_train")  # training theirs takes long


def cases_of(settings):
    base = {k: settings[k] for k in ("threads", "image_size", "backbone", "seed", "warmup", "repeats")}
    out = [dict(base, case="compute", models=settings["models"])]
    if settings["reference_repo"]:
        out.append(dict(base, case="reference", reference_repo=settings["reference_repo"],
                        reference_paths=settings["reference_paths"],
                        reference_batch_size=settings["reference_batch_size"],
                        reference_repeats=settings["reference_repeats"]))
    if settings["reference_repo"]:  # both sides timed together, then each alone for its memory
        out += [dict(base, case="reference_train", side=side, reference_repo=settings["reference_repo"],
                     train_batch_size=settings["train_batch_size"], train_repeats=settings["train_repeats"])
                for side in ("both", "theirs", "ours")]
    for model in settings["models"]:
        for path in settings["paths"] if model == "ctn" else settings["baseline_paths"]:
            out.append(dict(base, case="inference", model=model, path=path, check=settings["check"],
                            batch_sizes=settings["batch_sizes"], workloads=settings["workloads"]))
    if settings["train"]:
        out += [dict(base, case="train", model=m, train_batch_size=settings["train_batch_size"],
                     train_repeats=settings["train_repeats"]) for m in settings["models"]]
    if settings["pipeline"]:
        out.append(dict(base, case="pipeline", data_dir=settings["data_dir"],
                        pipeline_batches=settings["pipeline_batches"],
                        pipeline_batch_size=settings["pipeline_batch_size"],
                        pipeline_images=settings["pipeline_images"]))
    if settings["model_dir"]:
        out.append(dict(base, case="accuracy", model_dir=settings["model_dir"],
                        data_dir=settings["data_dir"], accuracy_paths=settings["accuracy_paths"]))
    return out


def run(settings, log=print, after_case=None, report=None):
    """Runs every case; `after_case(report)` is called after each (e.g. to save the
    partial report of a long run). Given an earlier `report`, the cases run replace
    theirs in it and the rest is kept."""
    from ct_keras.benchmarking import machine

    report = report or {"inference": {}, "training": {}}
    report.update(machine=machine.describe(), settings=settings)
    for case in cases(settings):
        result = run_case(case, log=log)
        kind = case["case"]
        if kind == "inference":
            report["inference"].setdefault(case["model"], {})[case["path"]] = result
        elif kind == "train":
            report["training"][case["model"]] = result
        elif kind == "reference_train":
            report.setdefault("reference_train", {})[case["side"]] = result
        else:
            report[kind] = result
        if after_case:
            after_case(report)
    return report

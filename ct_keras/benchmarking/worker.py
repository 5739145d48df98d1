"""Runs one benchmark case in this (fresh) process and prints its result as JSON.

    python -m ct_keras.benchmarking.worker '{"case": "inference", "model": "ctn", ...}'

A process per case keeps the peak-RSS figures apart and every case's threads equal.
"""

import json
import os
import sys
import traceback

MARKER = "BENCHMARK_RESULT "


def _spec(case):
    return {k: case.get(k) for k in ("image_size", "backbone", "seed", "threads", "data_dir")}


def inference(case):
    from ct_keras.benchmarking import inputs, memory, paths, stats

    prepare, exact, _ = paths.paths()[case["path"]]
    spec = _spec(case)
    composite, all_tasks = prepare(case["model"], spec)
    results = {}
    for batch_size in sorted(case["batch_sizes"]):
        image = inputs.images(batch_size, case["image_size"], seed=1)
        palette = inputs.r1r_palettes(batch_size, case["image_size"], seed=1)
        calls = {"composite": lambda: composite(image, palette), "all": lambda: all_tasks(image)}
        for workload in case["workloads"]:
            timing = stats.time_call(calls[workload], batch_size, case["warmup"], case["repeats"])
            timing["peak_rss_mib"] = memory.peak_rss_mib()
            results.setdefault(workload, {})[str(batch_size)] = timing
    out = {"results": results, "exact": exact}
    if case.get("check") and case["path"] != "keras":
        out["max_abs_diff_vs_keras"] = _check(case, composite, all_tasks)
    return out


def _check(case, composite, all_tasks):
    """Max |path − fp32 Keras graph| over batch-1 composite and all-task outputs."""
    from ct_keras.benchmarking import inputs, paths

    image = inputs.images(1, case["image_size"], seed=2)
    palette = inputs.r1r_palettes(1, case["image_size"], seed=2)
    ref_composite, ref_all = paths.paths()["keras"][0](case["model"], _spec(case))
    return {"composite": paths.max_abs_diff(composite(image, palette), ref_composite(image, palette)),
            "all": paths.max_abs_diff(all_tasks(image), ref_all(image))}


def train(case):
    from ct_keras.benchmarking import inputs, memory, models, stats, training

    model_set = models.build(case["model"], case["image_size"], case["backbone"], seed=case["seed"])
    b = case["train_batch_size"]
    step = training.training_step(case["model"], model_set, inputs.images(b, case["image_size"]),
                                  inputs.r1r_palettes(b, case["image_size"]))
    timing = stats.time_call(step, b, case["warmup"], case["train_repeats"])
    timing.update({"batch_size": b, "peak_rss_mib": memory.peak_rss_mib()})
    return {"results": timing}


def pipeline(case):
    from ct_keras.benchmarking import pipeline as pipe

    return {"results": pipe.measure(case.get("data_dir"), case["image_size"], case["pipeline_batch_size"],
                                    batches=case["pipeline_batches"], repeats=case["repeats"],
                                    synthetic_images=case["pipeline_images"])}


def compute(case):
    from ct_keras.benchmarking import compute as flops

    return {"results": flops.measure(case["image_size"], case["backbone"], case["models"])}


def reference(case):
    from ct_keras.benchmarking import reference_run

    return {"results": reference_run.run(case)}


def reference_train(case):
    from ct_keras.benchmarking import reference_train as rt

    return {"results": rt.run(case)}


def accuracy(case):
    from ct_keras.benchmarking import accuracy as acc

    return {"results": acc.compare(case)}


CASES = {"inference": inference, "train": train, "pipeline": pipeline, "compute": compute,
         "reference": reference, "reference_train": reference_train, "accuracy": accuracy}


def main(argv):
    case = json.loads(argv[1])
    if case["case"] == "reference" or (case["case"] == "reference_train" and case["side"] != "ours"):
        import torch  # noqa: F401 — before `configure`, so that torch gets the same threads
    from ct_keras.benchmarking import memory, threads
    from ct_keras.benchmarking.unavailable import Unavailable

    # Load average before and after: this machine may be shared, and it says how much.
    out = {"threads": threads.configure(case["threads"]), "baseline_rss_mib": memory.current_rss_mib(),
           "load_average_before": os.getloadavg()[0]}
    try:
        out.update(CASES[case["case"]](case))
        out["status"] = "ok"
    except Unavailable as e:
        out.update(status="unavailable", note=str(e))
    except Exception as e:  # noqa: BLE001 — reported per case; the run goes on
        out.update(status="error", note=f"{type(e).__name__}: {e}",
                   traceback=traceback.format_exc()[-3000:])
    out["load_average_after"] = os.getloadavg()[0]
    print(MARKER + json.dumps(out), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main(sys.argv)

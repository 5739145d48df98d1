"""Markdown tables of a benchmark report (the dict of `runner.run`)."""

NAMES = {"ctn": "CTN", "mhn": "MHN (5 heads)", "stn": "STN ×5", "mn": "MN"}


def _rate(t):
    return f"{t['images_per_s']:.3g}", f"{t['min']:.3g}–{t['max']:.3g}", f"{t['spread_pct']:.0f} %"


def compute_table(compute):
    rows = ["| model | trainable params | total params | GFLOPs, one pass | GFLOPs, composite (R1r) "
            "| GFLOPs, all five tasks everywhere |", "|---|---:|---:|---:|---:|---:|"]
    for kind, r in compute.get("results", {}).items():
        every = f"{r['gflops_all_tasks']:.1f}"
        if "gflops_all_tasks_shared_encoder" in r:
            every += f" (5 passes); {r['gflops_all_tasks_shared_encoder']:.1f} (1 encoder + 5 decoders)"
        if "gflops_fast_all_tasks" in r:
            every += f"; **{r['gflops_fast_all_tasks']:.1f}** (fast path)"
        composite = f"{r['gflops_composite']:.1f}"
        if "gflops_fast_composite" in r:
            composite += f"; **{r['gflops_fast_composite']:.1f}** (fast path)"
        rows.append(f"| {NAMES[kind]} | {r['trainable_params']:,} | {r['total_params']:,} | "
                    f"{r['gflops_one_pass']:.1f} | {composite} | {every} |")
    return "\n".join(rows)


def inference_table(inference):
    rows = ["| model | path | workload | batch | images/s (median) | min–max | spread | peak RSS MiB "
            "(baseline) | max abs diff vs keras |", "|---|---|---|---:|---:|---|---:|---:|---:|"]
    skipped = []
    for kind, by_path in inference.items():
        for path, r in by_path.items():
            if r["status"] != "ok":
                skipped.append(f"- {NAMES[kind]} / `{path}`: {r['status']}: {r.get('note', '')}")
                continue
            for workload, by_batch in r["results"].items():
                for batch, t in by_batch.items():
                    diff = r.get("max_abs_diff_vs_keras", {}).get(workload)
                    rows.append(f"| {NAMES[kind]} | `{path}` | {workload} | {batch} | "
                                + " | ".join(_rate(t)) + f" | {t['peak_rss_mib']:.0f} "
                                f"({r['baseline_rss_mib']:.0f}) | "
                                + ("-" if diff is None else f"{diff:.1e}") + " |")
    return "\n".join(rows + ([""] + ["Not measured:"] + skipped if skipped else []))


def training_table(training):
    rows = ["| model | batch | images/s (median) | min–max | spread | peak RSS MiB |",
            "|---|---:|---:|---|---:|---:|"]
    for kind, r in training.items():
        if r["status"] != "ok":
            rows.append(f"| {NAMES[kind]} | - | {r['status']}: {r.get('note', '')} | | | |")
            continue
        t = r["results"]
        rows.append(f"| {NAMES[kind]} | {t['batch_size']} | " + " | ".join(_rate(t))
                    + f" | {t['peak_rss_mib']:.0f} |")
    return "\n".join(rows)


def pipeline_table(pipeline):
    if pipeline.get("status") != "ok":
        return f"Input pipeline: {pipeline.get('status')}: {pipeline.get('note', '')}"
    t = pipeline["results"]
    return ("| source | batch | images/s (median) | min–max | spread |\n|---|---:|---:|---|---:|\n"
            f"| {t['source']} | {t['batch_size']} | " + " | ".join(_rate(t)) + " |")


def reference_table(reference):
    if reference.get("status") != "ok":
        return f"Reference: {reference.get('status')}: {reference.get('note', '')}"
    r = reference["results"]
    ref = r["reference"]
    rows = [f"Batch {r['batch_size']}, {r['palette']} palette, {len(ref['runs'])} alternating rounds; "
            f"the authors' model: {ref['images_per_s']:.3g} images/s (min–max {ref['min']:.3g}–"
            f"{ref['max']:.3g}). Load average (1 min) {reference['load_average_before']:.1f} before, "
            f"{reference['load_average_after']:.1f} after.", "",
            "| our path | images/s (median) | min–max | spread | × the authors' (ratio of medians) "
            "| × per round: median (min–max) | × fastest runs | × their onnxruntime | max abs diff "
            f"(output max {r['output_scale']:.2g}) | equal within {r['tolerance']:g} |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    onnx = r.get("onnxruntime")
    if onnx:
        rows.insert(1, f"Their model exported to ONNX and run by onnxruntime (the same threads): "
                       f"{onnx['images_per_s']:.3g} images/s, {onnx['speedup_vs_reference']:.2f}× their eager "
                       f"model, max abs diff {onnx['max_abs_diff_vs_reference']:.1e}.")
    for name, t in r["ours"].items():
        equal = {True: "yes", False: "**no**", None: "n/a (reduced precision)"}[t["equal_within_tolerance"]]
        vs_onnx = f"{t['speedup_vs_onnxruntime']:.2f}×" if "speedup_vs_onnxruntime" in t else "-"
        rows.append(f"| `{name}` | " + " | ".join(_rate(t))
                    + f" | **{t['speedup_vs_reference']:.2f}×** | {t['speedup_per_round_median']:.2f}× "
                    f"({t['speedup_per_round_min']:.2f}–{t['speedup_per_round_max']:.2f}) | "
                    f"{t['speedup_best_runs']:.2f}× | {vs_onnx} | {t['max_abs_diff_vs_reference']:.1e} "
                    f"| {equal} |")
    rows += [f"- `{n}`: {why}" for n, why in r["unavailable"].items()]
    rows += ["", "Notes: " + "; ".join(r["notes"])]
    return "\n".join(rows)


def reference_train_table(sides):
    """Training, theirs against ours: the alternating timing (side "both") and each side's
    peak memory measured alone."""
    both = sides.get("both", {})
    if both.get("status") != "ok":
        return f"Training against the authors': {both.get('status')}: {both.get('note', '')}"
    r = both["results"]
    rows = [f"{r['image_size']}², batch {r['batch_size']}, {r['backbone']}, {r['palette']} palettes; one "
            f"step = forward, {r['loss']}, backward, {r['optimizer']}; {len(r['timing']['ours']['runs'])} "
            f"alternating rounds. First-step losses (same weights): theirs {r['first_step_loss']['theirs']:.6g}, "
            f"ours {r['first_step_loss']['ours']:.6g} (relative difference "
            f"{r['first_step_loss_relative_diff']:.1e}). Load average (1 min) {both['load_average_before']:.1f} "
            f"before, {both['load_average_after']:.1f} after.", "",
            "| model | images/s (median) | min–max | spread | s/step | peak MiB added (alone) | × the authors' |",
            "|---|---:|---|---:|---:|---:|---:|"]
    for side, label in (("theirs", "the authors' CTN (PyTorch, eager)"), ("ours", "our CTN (TF graph)")):
        t = r["timing"][side]
        alone = sides.get(side, {})
        peak = (f"{alone['results']['added_peak_mib']:.0f}" if alone.get("status") == "ok"
                else f"{alone.get('status', 'not run')}")
        ratio = "1" if side == "theirs" else (f"**{r['speedup_vs_reference']:.2f}×** (per round "
                                              f"{r['speedup_per_round']['min']:.2f}–"
                                              f"{r['speedup_per_round']['max']:.2f})")
        rows.append(f"| {label} | " + " | ".join(_rate(t)) + f" | {r['batch_size'] / t['images_per_s']:.2f} "
                    f"| {peak} | {ratio} |")
    rows += ["", "Notes: " + "; ".join(r.get("notes", []))]
    return "\n".join(rows)


def markdown(report):
    m = report["machine"]
    parts = [f"Machine: {m['cpu']}, {m['cores_available']} cores available, flags "
             f"{' '.join(m['cpu_flags'])}, {m['memory_gib']} GiB; "
             + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
             + f"; threads {report['settings']['threads']}"
             + "".join(f"; {k}={v}" for k, v in m.get("environment", {}).items() if v is not None)
             + ".",
             "", "Commands:", "", "```bash"] + report.get("commands", []) + ["```"]
    if "compute" in report:  # a run of other cases only leaves these out
        parts += ["", "### Compute", "", compute_table(report["compute"])]
    if report["inference"]:
        parts += ["", "### Inference", "", inference_table(report["inference"])]
    if report["training"]:
        parts += ["", "### Training", "", training_table(report["training"])]
    if "pipeline" in report:
        parts += ["", "### Input pipeline", "", pipeline_table(report["pipeline"])]
    if "reference" in report:
        parts += ["", "### Against the authors' PyTorch model", "", reference_table(report["reference"])]
    if "reference_train" in report:
        parts += ["", "### Training against the authors' PyTorch model", "",
                  reference_train_table(report["reference_train"])]
    if "accuracy" in report:
        parts += ["", "### Reduced precision: metrics against fp32", "", accuracy_text(report["accuracy"])]
    return "\n".join(parts) + "\n"


def accuracy_text(accuracy):
    if accuracy.get("status") != "ok":
        return f"Accuracy: {accuracy.get('status')}: {accuracy.get('note', '')}"
    r = accuracy["results"]
    rows = ["| path | task | " + " | ".join(["metrics"]) + " |", "|---|---|---|"]
    for path, by_task in r["metrics"].items():
        for task, values in by_task.items():
            rows.append(f"| `{path}` | {task} | "
                        + ", ".join(f"{k} {v:.2f}" for k, v in values.items()) + " |")
    rows += [""] + [f"- `{p}`: worst loss {d:.2f} points" for p, d in r["worst_drop_points"].items()]
    return "\n".join(rows)

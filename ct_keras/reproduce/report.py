"""A table of ours beside the paper's: rows from the runs' metrics, Δm, Markdown and JSON."""

import json
import os

from ct_keras.metrics import delta_m
from ct_keras.reproduce.paper_tables import COLUMN_NAMES
from ct_keras.reproduce.plan import row_evaluations

RULE_NAMES = {"s": "S", "r1r": "R1r", "rrnd": "Rrnd", "r2": "R2", "r3": "R3", "r2>r3": "R2 → R3"}
MODEL_NAMES = {"stn": "STN", "mhn": "MHN", "ctn": "CTN"}


def merge_metrics(parts, names=()):
    """One metrics dict from several (the five single-task nets); a key that two give
    different values is an error naming both files."""
    merged, origin = {}, {}
    for part, name in zip(parts, list(names) + [None] * len(parts)):
        for key, value in part.items():
            if key in merged and merged[key] != value and key not in ("rule", "steps"):
                raise ValueError(f"{key} is {merged[key]} in {origin[key]} but {value} in {name}")
            merged.setdefault(key, value)
            origin.setdefault(key, name)
    return merged


def read_baseline(paths):
    """The merged metrics of `paths`: `metrics.json` files, or folders holding one or, one
    level down, several (e.g. the five single-task runs). Errors name the path."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            own = os.path.join(path, "metrics.json")
            found = [own] if os.path.isfile(own) else sorted(
                os.path.join(path, d, "metrics.json") for d in os.listdir(path)
                if os.path.isfile(os.path.join(path, d, "metrics.json")))
            if not found:
                raise FileNotFoundError(f"--baseline: {path} holds no metrics.json, nor do its subfolders")
            files += found
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f"--baseline: {path} does not exist")
    parts = []
    for path in files:
        value = _read(path)
        if not isinstance(value, dict):
            raise ValueError(f"--baseline: {path} is not a metrics JSON object")
        parts.append(value)
    return merge_metrics(parts, files)


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def row_metrics(row, scale, out, data_dir, passthrough=()):
    """The row's merged metrics, or None while any of its evaluations is missing."""
    paths = [e.output(out) for e in row_evaluations(row, scale, data_dir, passthrough)]
    parts = [_read(p) for p in paths]
    if any(p is None for p in parts):
        return None
    return merge_metrics(parts, paths)


def table_rows(table, scale, out, data_dir, passthrough=()):
    """The JSON rows of a table: metrics (ours), Δm against the baseline row of the same
    evaluation rule (over the table's columns), and the paper's values."""
    metrics = [row_metrics(r, scale, out, data_dir, passthrough) for r in table.rows]
    baselines = {r.eval_rule: m for r, m in zip(table.rows, metrics) if r.baseline}
    rows = []
    for row, values in zip(table.rows, metrics):
        base = baselines.get(row.eval_rule)
        ours_dm = None
        if values is not None and base is not None:
            ours_dm = delta_m({k: values[k] for k in table.columns if k in values}, base)
        entry = {"train_rule": row.train_rule, "eval_rule": row.eval_rule, "model": row.model,
                 "metrics": values, "delta_m": ours_dm,
                 "paper": dict(zip(table.columns, row.paper)), "paper_delta_m": row.paper_delta_m}
        if row.knob:
            entry["knob"] = row.label
        rows.append(entry)
    return rows


def _cell(value, paper):
    ours = "–" if value is None else f"{value:.2f}"
    return f"{ours} ({paper:.2f})" if paper is not None else ours


def markdown(table, rows, scale_name):
    knobs = any("knob" in r for r in rows)
    first = ["Setting"] if knobs else ["Train", "Eval", "Model"]
    header = first + [COLUMN_NAMES[c] for c in table.columns] + ["Δm %"]
    lines = [f"**Table {table.number}: {table.title}** — ours at scale `{scale_name}` (the paper's in "
             "brackets; ↑ higher is better except Normals, the mean angle in degrees)", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["knob"]] if knobs else [RULE_NAMES[r["train_rule"]], RULE_NAMES[r["eval_rule"]],
                                           MODEL_NAMES[r["model"]]]
        for column in table.columns:
            value = None if r["metrics"] is None else r["metrics"].get(column)
            cells.append(_cell(value, r["paper"][column]))
        cells.append(_cell(r["delta_m"], r["paper_delta_m"]) if r["paper_delta_m"] is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(table, rows, scale_name, out):
    """Writes `<out>/table<N>.json` and `.md`; returns the Markdown."""
    from ct_keras.atomic_files import write_atomically, write_json_atomically

    text = markdown(table, rows, scale_name)
    write_json_atomically(os.path.join(out, f"table{table.number}.json"),
                          {"table": table.number, "title": table.title, "scale": scale_name,
                           "columns": list(table.columns), "rows": rows})
    write_atomically(os.path.join(out, f"table{table.number}.md"), text)
    return text

"""Multi-task summaries: the Δm of Maninis et al. (paper §6.1) and the paper's table row."""

import math

# Whether a larger value is better, for every key a task metric's `result()` returns.
HIGHER_IS_BETTER = {
    "semseg_miou": True,
    "parts_miou": True,
    "edges_odsf": True,
    "saliency_maxiou": True,
    "saliency_maxf": True,
    "normals_mean_angle": False,
    "normals_median_angle": False,
    "normals_rmse_angle": False,
    "normals_within_11_25": True,
    "normals_within_22_5": True,
    "normals_within_30": True,
}

# The one number per task that the paper's tables and Δm use.
HEADLINE_METRICS = (
    "semseg_miou", "parts_miou", "edges_odsf", "saliency_maxiou", "normals_mean_angle",
)

# Columns of the paper's Table 1 (docs/design.md §6), in order.
PAPER_COLUMNS = (
    ("Edge odsF", "edges_odsf"),
    ("SemSeg", "semseg_miou"),
    ("Parts", "parts_miou"),
    ("Normals", "normals_mean_angle"),
    ("Sal", "saliency_maxiou"),
)


def _number(metrics, key, arg):
    try:
        value = float(metrics[key])
    except (TypeError, ValueError):
        raise ValueError(f"`{arg}['{key}']` must be a number. Received {metrics[key]!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"`{arg}['{key}']` must be finite. Received {value}")
    return value


def delta_m(metrics, baseline):
    """Multi-task performance Δm of `metrics` against `baseline`, in percent.

    Δm = 100 · mean_i (−1)^{l_i} (M_i − M_b,i) / M_b,i over the headline metrics
    (`HEADLINE_METRICS`) present in both dicts, with l_i = 1 where lower is better
    (the normals angle). Negative means worse than the baseline on average; the
    paper's Table 1 gives −4.60 % for MHN against STN.

    Args:
        metrics: `{metric key: value}` of the model, e.g. merged `result()` dicts
            (tensors, numpy or Python numbers).
        baseline: the same for the baseline, usually the single-task networks.
    """
    keys = [k for k in HEADLINE_METRICS if k in metrics and k in baseline]
    if not keys:
        raise ValueError(
            f"`metrics` and `baseline` share none of the headline metrics {HEADLINE_METRICS}. "
            f"Received keys {sorted(metrics)} and {sorted(baseline)}"
        )
    total = 0.0
    for key in keys:
        base = _number(baseline, key, "baseline")
        if base == 0:
            raise ValueError(f"`baseline['{key}']` must be non-zero to compute a relative change")
        sign = 1.0 if HIGHER_IS_BETTER[key] else -1.0
        total += sign * (_number(metrics, key, "metrics") - base) / base
    return 100.0 * total / len(keys)


def paper_row(metrics, baseline=None):
    """A Markdown table row in the column order of the paper's Table 1 (docs/design.md §6).

    `| Edge odsF | SemSeg | Parts | Normals | Sal |` with two decimals, `–` for a task
    that `metrics` lacks, and a Δm % cell appended when `baseline` is given.
    """
    cells = [
        f"{_number(metrics, key, 'metrics'):.2f}" if key in metrics else "–"
        for _, key in PAPER_COLUMNS
    ]
    if baseline is not None:
        cells.append(f"{delta_m(metrics, baseline):.2f}%")
    return "| " + " | ".join(cells) + " |"

"""The learning curve of a run: each task's validation metric per epoch against the best
constant prediction, read from the run's `history.csv` and drawn with PIL.

`history.csv` is what `keras.callbacks.CSVLogger` writes during training (one row per
epoch); the task metrics are in it when the run had `validation_metrics` on.
"""

import csv

import numpy as np

from ct_keras.training.demo import ROWS

# (task, history key, label, higher is better): the demo's table, as validation columns.
CURVES = tuple((task, f"val_{key}", label, higher) for task, key, label, higher in ROWS)
LINE, CONSTANT = (30, 90, 200), (200, 60, 40)


def read_history(path):
    """`{column: [float per epoch]}` of a CSVLogger file, rows in epoch order."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} holds no epoch")
    rows.sort(key=lambda r: int(r["epoch"]))
    return {key: [float(r[key]) if r.get(key) not in (None, "") else float("nan") for r in rows]
            for key in rows[0]}


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _dashed(draw, y, x0, x1, colour, dash=8):
    for x in range(int(x0), int(x1), 2 * dash):
        draw.line([(x, y), (min(x + dash, x1), y)], fill=colour, width=2)


def draw_learning_curve(history, constant, panel=(300, 220)):
    """RGB uint8: one panel per task of `CURVES` found in `history`, the metric per epoch
    (solid) and `constant[key without "val_"]` (dashed, the best constant prediction)."""
    from PIL import Image, ImageDraw

    curves = [c for c in CURVES if c[1] in history]
    if not curves:
        raise ValueError("The history has no task metric (train with validation_metrics on)")
    width, height = panel
    margin_l, margin_b, margin_t, pad = 48, 28, 26, 12
    font, small = _font(15), _font(12)
    canvas = Image.new("RGB", (len(curves) * (width + pad) + pad, height + 2 * pad + 24), "white")
    draw = ImageDraw.Draw(canvas)
    epochs = np.arange(1, len(next(iter(history.values()))) + 1)
    for i, (task, key, label, higher) in enumerate(curves):
        values = np.asarray(history[key], float)
        base = constant.get(key[len("val_"):])
        x0, y0 = pad + i * (width + pad) + margin_l, pad + margin_t
        x1, y1 = pad + (i + 1) * (width + pad) - pad, pad + height - margin_b
        finite = values[np.isfinite(values)]
        lo, hi = 0.0, max(max([*finite, *([base] if base is not None else [])], default=1.0) * 1.1, 1e-6)

        def xy(e, v):
            x = x0 + (x1 - x0) * ((e - 1) / max(len(epochs) - 1, 1))
            return x, y1 - (y1 - y0) * (v - lo) / (hi - lo)

        draw.rectangle([x0, y0, x1, y1], outline=(120, 120, 120))
        draw.text(((x0 + x1) / 2, pad + 2), f"{task} ({label}, {'higher' if higher else 'lower'} is better)",
                  fill="black", font=small, anchor="mt")
        for frac in (0.0, 0.5, 1.0):
            v = lo + frac * (hi - lo)
            draw.text((x0 - 4, xy(1, v)[1]), f"{v:.0f}", fill="black", font=small, anchor="rm")
        draw.text(((x0 + x1) / 2, y1 + 4), f"epoch (1 to {len(epochs)})", fill="black", font=small, anchor="mt")
        if base is not None:
            _dashed(draw, xy(1, base)[1], x0, x1, CONSTANT)
        points = [xy(e, v) for e, v in zip(epochs, values) if np.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=LINE, width=3)
        for x, y in points[-1:]:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=LINE)
    legend_y = pad + height + 4
    draw.line([(pad + margin_l, legend_y + 9), (pad + margin_l + 30, legend_y + 9)], fill=LINE, width=3)
    draw.text((pad + margin_l + 38, legend_y), "validation, each task on its region of the training rule's "
              "palettes", fill="black", font=font)
    x = pad + margin_l + 520
    _dashed(draw, legend_y + 9, x, x + 30, CONSTANT)
    draw.text((x + 38, legend_y), "best constant prediction (rule S)", fill="black", font=font)
    return np.asarray(canvas)

"""What `make demo` shows of its run: each task's score against the best constant
prediction, composite figures of validation images, and the learning curve.

`tools/demo.py` is the command; the pieces live here so that they are tested.
"""

import numpy as np

# (task, metric key, label, higher is better)
ROWS = (
    ("semseg", "semseg_miou", "mIoU %", True),
    ("parts", "parts_miou", "mIoU %", True),
    ("edges", "edges_odsf", "odsF %", True),
    ("saliency", "saliency_maxiou", "max-IoU %", True),
    ("normals", "normals_mean_angle", "mean angle °", False),
)


def report_table(metrics, constant):
    """A Markdown table: each task's metric against the best constant's, with their ratio
    (constant ÷ trained for the mean angle, so that above 1 is better everywhere)."""
    lines = ["| task | metric | trained CTN | best constant | ratio | above constant |",
             "|---|---|---|---|---|---|"]
    for task, key, label, higher in ROWS:
        ours, base = float(metrics[key]), float(constant[key])
        better = ours > base if higher else ours < base
        ratio = (ours / base if base else float("inf")) if higher else (base / ours if ours else float("inf"))
        lines.append(f"| {task} | {label} | {ours:.2f} | {base:.2f} | {ratio:.2f}× | {'yes' if better else 'NO'} |")
    return "\n".join(lines)


def upscale(picture, size):
    """`picture` `[H, W(, 3)]` enlarged by whole pixels (nearest) to at least `size` high."""
    factor = max(1, -(-size // picture.shape[0]))
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def composite_figures(net, data_dir, rule, count=2, panel_size=256, seed=0):
    """One `prediction_figure` per validation image (the first `count`), palettes drawn by
    `rule`, panels enlarged to `panel_size`: image | Task Palette | prediction, with the
    task and class legend. Returns the figures stacked, RGB uint8."""
    from ct_keras.data import make_dataset
    from ct_keras.inference.figure import prediction_figure
    from ct_keras.tasks import decode_composite

    hw = tuple(int(s) for s in net.image_hw)
    ds = make_dataset(data_dir, "val", rule=rule, image_size=hw, batch_size=count, augment=False,
                      seed=seed, drop_remainder=False)
    inputs, _ = next(iter(ds))
    inputs = {k: v.numpy() for k, v in inputs.items()}
    raw = np.asarray(net.predict(inputs, verbose=0))
    figures = []
    for image, palette, out in zip(inputs["image"], inputs["palette"], raw):
        outputs = {k: upscale(v, panel_size) for k, v in decode_composite(out, palette, net.anchors).items()}
        figures.append(prediction_figure(upscale(np.clip(image, 0, 255).astype(np.uint8), panel_size),
                                         upscale(palette, panel_size), outputs, net.anchors))
    width = max(f.shape[1] for f in figures)
    padded = [np.pad(f, ((0, 8), (0, width - f.shape[1]), (0, 0)), constant_values=255) for f in figures]
    return np.concatenate(padded, axis=0)

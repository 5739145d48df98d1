"""Training and evaluating the palette network (paper §6.2): image → Task Palette.

The targets are the palettes a semantic rule (R2 or R3) makes from the semseg labels,
built by the input pipeline after augmentation (`make_dataset`), so that they stay on
the flipped and scaled objects. The loss is the per-pixel softmax cross-entropy over the
tasks; the metric is the mIoU over the five tasks (`palette_miou`, %), accumulated over
the validation split, and the pixel accuracy.
"""

import numpy as np

from ct_keras.data import make_dataset
from ct_keras.tasks import NUM_TASKS, TASK_NAMES


def palette_targets(dataset):
    """`(inputs, targets)` batches of `make_dataset` → `(image, palette)`."""
    return dataset.map(lambda inputs, targets: (inputs["image"], inputs["palette"]))


def confusion(net, dataset, steps=None):
    """`[K, K]` int64 counts (rows: target task, columns: predicted) over `dataset`; `net`
    gives logits, or is any function `images → task ids` (an exported palette file, say)."""
    counts = np.zeros((NUM_TASKS, NUM_TASKS), np.int64)
    for i, (image, palette) in enumerate(dataset):
        if steps is not None and i >= steps:
            break
        if hasattr(net, "trainable_variables"):
            predicted = np.argmax(net(image, training=False).numpy(), axis=-1)
        else:
            predicted = np.asarray(net(image.numpy()))
        counts += np.bincount(NUM_TASKS * palette.numpy().ravel() + predicted.ravel(),
                              minlength=NUM_TASKS ** 2).reshape(NUM_TASKS, NUM_TASKS)
    return counts


def palette_metrics(counts):
    """`palette_miou` (mean over the tasks present in the targets or predictions), the
    IoU of each task and the pixel accuracy, all in %."""
    tp = np.diag(counts).astype(np.float64)
    union = counts.sum(0) + counts.sum(1) - tp
    present = union > 0
    iou = np.where(present, tp / np.maximum(union, 1), np.nan)
    metrics = {"palette_miou": float(100 * np.nanmean(iou)) if present.any() else 0.0,
               "palette_pixel_accuracy": float(100 * tp.sum() / max(counts.sum(), 1))}
    for k, name in enumerate(TASK_NAMES):
        if present[k]:
            metrics[f"palette_iou_{name}"] = float(100 * iou[k])
    metrics.update(best_constant(counts))
    return metrics


def best_constant(counts):
    """The baseline a palette network must beat: one task everywhere, the best of them
    (`palette_best_constant`, its `palette_miou_best_constant` %), scored as above: the
    task chosen has IoU = its share of the pixels, every other task of the targets 0."""
    targets = counts.sum(1)
    total = max(int(targets.sum()), 1)
    scores = []
    for k in range(len(targets)):
        present = (targets > 0) | (np.arange(len(targets)) == k)
        scores.append(100 * targets[k] / total / present.sum())
    k = int(np.argmax(scores))
    return {"palette_miou_best_constant": float(scores[k]), "palette_best_constant": TASK_NAMES[k]}


def evaluate_palette_net(net, data_dir, rule, image_size, batch_size, seed=0, steps=None):
    """The metrics of `palette_metrics` on the validation split (`net` as for `confusion`)."""
    val = make_dataset(data_dir, "val", rule=rule, image_size=(image_size,) * 2,
                       batch_size=batch_size, augment=False, seed=seed, drop_remainder=False)
    return palette_metrics(confusion(net, palette_targets(val), steps))


def palette_summary(metrics):
    tasks = ", ".join(f"{name} {metrics[f'palette_iou_{name}']:.1f}" for name in TASK_NAMES
                      if f"palette_iou_{name}" in metrics)
    return (f"Palette network: mIoU {metrics['palette_miou']:.2f} % over the tasks ({tasks}); "
            f"pixel accuracy {metrics['palette_pixel_accuracy']:.2f} %; the best constant palette "
            f"({metrics['palette_best_constant']} everywhere): mIoU {metrics['palette_miou_best_constant']:.2f} %")

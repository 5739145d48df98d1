"""The paper's evaluation: metrics of a network on the validation split under a rule."""

import keras
import numpy as np
import tensorflow as tf

from ct_keras.data import make_dataset
from ct_keras.decoding import decode_tensor
from ct_keras.losses import CompositeLoss
from ct_keras.metrics import paper_row, task_metrics
from ct_keras.models import CompositeTaskingNet
from ct_keras.atomic_files import write_json_atomically
from ct_keras.tasks import TASK_NAMES
from ct_keras.training.trainer import CompositeTaskingTrainer


def _scored_nothing(metric):
    """True when `metric` saw no pixel to score: its task's palette region held no valid
    label (normals under R2 on a set whose R2-normals classes have no normals, say). Its
    result would read 0 — a perfect angle, a worthless mIoU — so it is left out instead."""
    for name in ("count", "images"):
        if hasattr(metric, name):
            return float(getattr(metric, name)) == 0
    if hasattr(metric, "confusion"):
        return float(tf.reduce_sum(metric.confusion)) == 0
    return False


def _drop_unscored(out, metrics):
    for metric in metrics:
        if _scored_nothing(metric):
            name = TASK_NAMES[metric.task]
            for key in [k for k in out if k.startswith(f"{name}_") and k != f"{name}_loss"]:
                del out[key]
    return out


def _run(net, dataset, tasks, edge_thresholds, steps, verbose, jit_compile="auto"):
    trainer = CompositeTaskingTrainer(
        net, metrics=task_metrics(tasks, edge_thresholds=edge_thresholds))
    trainer.compile(jit_compile=jit_compile)
    logs = trainer.evaluate(dataset, steps=steps, verbose=verbose, return_dict=True)
    return _drop_unscored({k: float(v) for k, v in logs.items()}, trainer.task_metrics)


def _run_all_tasks(net, dataset, edge_thresholds, steps, verbose, jit_compile=False):
    """Rule S for a CTN with one encoder pass per image: `FastCompositeTasking.all_tasks`
    (the exact fast path) gives every task over the whole image, each scored as if
    asked alone."""
    from ct_keras.deploy import FastCompositeTasking

    fast = FastCompositeTasking(net)
    all_tasks = tf.function(fast.all_tasks, reduce_retracing=True, jit_compile=jit_compile is True)
    metrics = {m.task: m for m in task_metrics(edge_thresholds=edge_thresholds)}
    loss = CompositeLoss(anchors=net.anchors)
    losses = {k: keras.metrics.Mean(name=f"{TASK_NAMES[k]}_loss") for k in metrics}
    progress = keras.utils.Progbar(steps, verbose=verbose, unit_name="batch") if verbose else None
    for step, (inputs, targets) in enumerate(dataset.take(steps) if steps else dataset):
        images = inputs["image"]
        # Two images (ten decoder passes) at a time: the same speed, a fraction of the memory.
        every = tf.concat([all_tasks(images[i:i + 2]) for i in range(0, int(images.shape[0]), 2)], 0)
        for k in metrics:
            losses[k].update_state(loss.task_loss(k, every[:, k], targets[TASK_NAMES[k]]))
        _score_whole_images(metrics, targets, {k: decode_tensor(every[:, k], k, net.anchors) for k in metrics})
        if progress:
            progress.update(step + 1)
    return _drop_unscored({**{m.name: float(m.result()) for m in losses.values()}, **_results(metrics)},
                          metrics.values())


def _score_whole_images(metrics, targets, decoded):
    """Feeds each task's metric its decoded output over every pixel (rule S)."""
    for k, metric in metrics.items():
        ones = tf.ones(tf.shape(targets[TASK_NAMES[k]])[:3], tf.float32)
        metric.update_state(targets[TASK_NAMES[k]], decoded[k], sample_weight=ones)


def _results(metrics):
    out = {}
    for metric in metrics.values():
        result = metric.result()
        out.update({k: float(v) for k, v in result.items()} if isinstance(result, dict)
                   else {metric.name: float(result)})
    return out


def evaluate_outputs(predict, data_dir, image_size, seed=0, edge_thresholds=99, steps=None,
                     skip_bad_samples=False):
    """Rule-S metrics of a model known only by its decoded outputs, with the metrics and
    keys of `evaluate_net` (what metrics.json holds): an exported TFLite file, say.

    `predict(images, palette)` takes a batch of one image (float32 `[1, H, W, 3]`, 0..255)
    and a palette (int32 `[1, H, W]`) and returns `{task name: decoded output}`; it is
    called once per task with that task everywhere. `steps`: images (default: all)."""
    metrics = {m.task: m for m in task_metrics(edge_thresholds=edge_thresholds)}
    dataset = make_dataset(data_dir, "val", rule="s", image_size=(image_size,) * 2, batch_size=1,
                           augment=False, seed=seed, task=0, drop_remainder=False,
                           skip_bad_samples=skip_bad_samples)
    for inputs, targets in dataset.take(steps) if steps else dataset:
        image = inputs["image"].numpy()
        decoded = {}
        for k in metrics:
            palette = np.full(image.shape[:3], k, np.int32)
            decoded[k] = tf.convert_to_tensor(np.asarray(predict(image, palette)[TASK_NAMES[k]]))
        _score_whole_images(metrics, targets, decoded)
    return {"rule": "s", **_drop_unscored(_results(metrics), metrics.values())}


def evaluate_net(net, data_dir, rule="s", image_size=256, batch_size=10, seed=0,
                 edge_thresholds=99, steps=None, verbose=0, jit_compile="auto", skip_bad_samples=False):
    """Metrics of `net` on the validation split of `data_dir` under `rule`.

    Rule `"s"`: each task over the whole image (the paper's Table 1 protocol); for a
    CTN one encoder pass per image computes all five (`FastCompositeTasking.all_tasks`),
    other networks run once per task. Other rules: one pass with that rule's palettes; each task is scored on
    the pixels its palette region covers. Returns `{metric: value}` (percent, degrees)
    and `{task}_loss` values.

    `jit_compile` (`True`, `False` or `"auto"`: XLA where Keras finds a GPU) compiles the
    forward passes; the metrics run outside XLA, so the numbers do not depend on it. The
    CTN rule-S fast path uses XLA only when it is `True`. `skip_bad_samples`: score the
    readable images only (see `make_dataset`).
    """
    tasks = [net.task] if not net.uses_palette else list(range(len(TASK_NAMES)))
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)

    def dataset(rule, task=None):
        return make_dataset(data_dir, "val", rule=rule, image_size=size, batch_size=batch_size,
                            augment=False, seed=seed, task=task, drop_remainder=False,
                            skip_bad_samples=skip_bad_samples)

    metrics = {"rule": rule}
    if rule == "s" and isinstance(net, CompositeTaskingNet):
        metrics.update(_run_all_tasks(net, dataset("s", 0), edge_thresholds, steps, verbose, jit_compile))
    elif rule == "s":
        for k in tasks:
            logs = _run(net, dataset("s", k), [k], edge_thresholds, steps, verbose, jit_compile)
            metrics.update({key: v for key, v in logs.items() if key.startswith(TASK_NAMES[k])})
    else:
        metrics.update(_run(net, dataset(rule), tasks, edge_thresholds, steps, verbose, jit_compile))
    metrics.pop("loss", None)
    return metrics


def write_metrics(path, metrics):
    """Writes `metrics` as JSON (atomically)."""
    write_json_atomically(path, metrics)


def summary(metrics, baseline=None):
    """The paper's table row, and Δm against `baseline` when given."""
    header = "| Edge odsF ↑ | SemSeg ↑ | Parts ↑ | Normals ↓ | Sal ↑ |" + (" Δm ↑ |" if baseline else "")
    return header + "\n" + paper_row(metrics, baseline)



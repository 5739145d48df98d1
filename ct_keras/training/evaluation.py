"""The paper's evaluation: metrics of a network on the validation split under a rule."""

from ct_keras.data import make_dataset
from ct_keras.metrics import paper_row, task_metrics
from ct_keras.models.model_dir import write_json_atomically
from ct_keras.tasks import TASK_NAMES
from ct_keras.training.trainer import CompositeTaskingTrainer


def _run(net, dataset, tasks, edge_thresholds, steps, verbose):
    trainer = CompositeTaskingTrainer(
        net, metrics=task_metrics(tasks, edge_thresholds=edge_thresholds))
    trainer.compile()
    logs = trainer.evaluate(dataset, steps=steps, verbose=verbose, return_dict=True)
    return {k: float(v) for k, v in logs.items()}


def evaluate_net(net, data_dir, rule="s", image_size=256, batch_size=10, seed=0,
                 edge_thresholds=99, steps=None, verbose=0):
    """Metrics of `net` on the validation split of `data_dir` under `rule`.

    Rule `"s"`: each task over the whole image, one task at a time (the paper's Table 1
    protocol). Other rules: one pass with that rule's palettes; each task is scored on
    the pixels its palette region covers. Returns `{metric: value}` (percent, degrees)
    and `{task}_loss` values.
    """
    tasks = [net.task] if not net.uses_palette else list(range(len(TASK_NAMES)))
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)

    def dataset(rule, task=None):
        return make_dataset(data_dir, "val", rule=rule, image_size=size, batch_size=batch_size,
                            augment=False, seed=seed, task=task, drop_remainder=False)

    metrics = {"rule": rule}
    if rule == "s":
        for k in tasks:
            logs = _run(net, dataset("s", k), [k], edge_thresholds, steps, verbose)
            metrics.update({key: v for key, v in logs.items() if key.startswith(TASK_NAMES[k])})
    else:
        metrics.update(_run(net, dataset(rule), tasks, edge_thresholds, steps, verbose))
    metrics.pop("loss", None)
    return metrics


def write_metrics(path, metrics):
    """Writes `metrics` as JSON (atomically)."""
    write_json_atomically(path, metrics)


def summary(metrics, baseline=None):
    """The paper's table row, and Δm against `baseline` when given."""
    header = "| Edge odsF ↑ | SemSeg ↑ | Parts ↑ | Normals ↓ | Sal ↑ |" + (" Δm ↑ |" if baseline else "")
    return header + "\n" + paper_row(metrics, baseline)



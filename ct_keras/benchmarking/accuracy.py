"""Does a reduced-precision path keep the metrics? A trained model's metrics on the
(synthetic) validation set, per task under rule S, for fp32 Keras and each other path.

The metrics themselves come from `ct_keras.metrics`; until that package is there this
case reports itself unavailable.
"""

import importlib

import numpy as np

from ct_keras.benchmarking import paths
from ct_keras.tasks import NUM_TASKS, TASK_NAMES


def _metrics():
    try:
        return importlib.import_module("ct_keras.metrics")
    except ImportError:
        raise paths.Unavailable("needs ct_keras.metrics (the metrics work, not merged yet)") from None


def evaluate(composite, data_dir, image_size, batch_size, metrics, limit=None, anchors=None):
    """`{task: {metric: value}}` of one path over the validation split, rule S; class maps
    decoded with `anchors` (the model's, from its model.json)."""
    from ct_keras.data.dataset import make_dataset
    from ct_keras.decoding import decode_tensor

    out = {}
    for task in range(NUM_TASKS):
        ds = make_dataset(data_dir, "val", rule="s", task=task, image_size=(image_size,) * 2,
                          batch_size=batch_size)
        (metric,) = metrics.task_metrics([task])
        for i, (inputs, targets) in enumerate(ds):
            if limit is not None and i >= limit:
                break
            raw = composite(inputs["image"].numpy(), inputs["palette"].numpy())
            metric.update_state(targets[TASK_NAMES[task]], decode_tensor(raw, task, anchors),
                                sample_weight=inputs["palette"] == task)
        out[TASK_NAMES[task]] = {k: float(v) for k, v in metric.result().items()}
    return out


def compare(case):
    """Metrics of every path in `case["accuracy_paths"]` beside fp32 Keras, and the
    largest drop of any metric (in points; for angle errors a rise is the loss)."""
    from ct_keras.models.model_dir import checkpoint_path, read_model_description

    metrics = _metrics()
    kind, config = read_model_description(case["model_dir"])
    weights = checkpoint_path(case["model_dir"], "best")
    spec = {"image_size": config["image_size"], "backbone": config["backbone"], "seed": 0,
            "config": config,
            "threads": case["threads"], "data_dir": case["data_dir"],
            "init": lambda models: models["net"].load_weights(weights)}
    table = paths.paths()
    results = {}
    for name in ["keras"] + [p for p in case["accuracy_paths"] if p != "keras"]:
        composite, _ = table[name][0](kind, spec)
        results[name] = evaluate(composite, case["data_dir"], config["image_size"], 1, metrics,
                                 anchors=config.get("anchors"))
    drops = {}
    for name, by_task in results.items():
        worst = 0.0
        for task, values in by_task.items():
            for metric, value in values.items():
                base = results["keras"][task][metric]
                higher_is_better = metrics.HIGHER_IS_BETTER[metric]
                worst = max(worst, (base - value) if higher_is_better else (value - base))
        drops[name] = float(np.round(worst, 4))
    return {"metrics": results, "worst_drop_points": drops}

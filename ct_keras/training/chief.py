"""Which process of a multi-worker run writes the model folder, and where the others write.

Under `multi_worker_mirrored` every worker runs the same program, callbacks included (they
take part in the same collective ops), but only the chief may write `--model_dir`: the
others write the same files to a temporary folder of their own, removed when they finish.
The chief is the task of type "chief", or worker 0 when the cluster has no "chief".
"""

import json
import os
import shutil
import tempfile


def cluster_task(tf_config=None):
    """`(type, index, cluster)` of this process from `TF_CONFIG`; `(None, 0, {})` without one."""
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not text:
        return None, 0, {}
    try:
        value = json.loads(text)
        task = value.get("task") or {}
        cluster = value.get("cluster") or {}
        kind, index = task.get("type"), int(task.get("index", 0))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"TF_CONFIG must be JSON like {{\"cluster\": {{\"worker\": [\"host:port\", ...]}}, "
                         f"\"task\": {{\"type\": \"worker\", \"index\": 0}}}}. Received {text!r}") from None
    if kind is not None and (kind not in cluster or not 0 <= index < len(cluster[kind])):
        raise ValueError(f"TF_CONFIG: task {kind!r} {index} is not in its cluster {cluster}")
    return kind, index, cluster


def is_chief(distribution_strategy, tf_config=None):
    """True for the process that writes the model folder (every single-worker run's)."""
    if distribution_strategy != "multi_worker_mirrored":
        return True
    kind, index, cluster = cluster_task(tf_config)
    if kind is None or kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in cluster


def output_dir(model_dir, distribution_strategy):
    """Where this process writes: `model_dir` on the chief, else a fresh temporary folder
    (removed by `remove_output_dir`)."""
    if is_chief(distribution_strategy):
        return model_dir
    kind, index, _ = cluster_task()
    path = tempfile.mkdtemp(prefix=f"ct_keras_{kind}{index}_")
    return path


def remove_output_dir(path, model_dir):
    """Removes a worker's temporary folder (never `model_dir` itself)."""
    if os.path.abspath(path) != os.path.abspath(model_dir):
        shutil.rmtree(path, ignore_errors=True)

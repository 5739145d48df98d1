"""The best constant prediction of each task: the floor a trained model must clear."""

import numpy as np

from ct_keras.data import make_dataset
from ct_keras.metrics import EdgesOdsF, MeanIoU, NormalsAngleError, SaliencyMaxIoU
from ct_keras.tasks import NUM_CLASSES, PARTS, SEMSEG


def _batches(data_dir, image_size, batch_size):
    size = (image_size, image_size)
    ds = make_dataset(data_dir, "val", rule="s", image_size=size, batch_size=batch_size,
                      augment=False, task=0, drop_remainder=False)
    for _, targets in ds:
        yield {k: v.numpy() for k, v in targets.items()}


def _best(results, key, higher_is_better=True):
    values = [r[key] for r in results]
    return float(max(values) if higher_is_better else min(values))


def constant_baselines(data_dir, image_size=256, batch_size=10, edge_thresholds=9):
    """Scores, over the validation split (rule S), of the best constant prediction per task:
    the best single class (semseg, parts), all-on or all-off (edges, saliency), the mean
    normal of the split (normals). Returns the same keys as `ct_keras.metrics`."""
    classes = {t: [MeanIoU(t) for _ in range(NUM_CLASSES[t])] for t in (SEMSEG, PARTS)}
    edges = [EdgesOdsF(thresholds=edge_thresholds) for _ in range(2)]
    saliency = [SaliencyMaxIoU() for _ in range(2)]
    normal_sum = np.zeros(3)
    for targets in _batches(data_dir, image_size, batch_size):
        ones = np.ones(targets["edges"].shape, np.float32)
        for task, name in ((SEMSEG, "semseg"), (PARTS, "parts")):
            for c, metric in enumerate(classes[task]):
                metric.update_state(targets[name], np.full(ones.shape, c, np.int32), ones)
        for metric, value in zip(edges, (0.0, 1.0)):
            metric.update_state(targets["edges"], ones * value, ones)
        for metric, value in zip(saliency, (0.0, 1.0)):
            metric.update_state(targets["saliency"], ones * value, ones)
        normal_sum += targets["normals"].reshape(-1, 3).sum(axis=0)
    mean_normal = normal_sum / max(np.linalg.norm(normal_sum), 1e-12)
    normals = NormalsAngleError()
    for targets in _batches(data_dir, image_size, batch_size):
        shape = targets["normals"].shape
        normals.update_state(targets["normals"], np.broadcast_to(mean_normal, shape).astype(np.float32),
                             np.ones(shape[:-1], np.float32))

    def results(metrics):
        return [{k: float(v) for k, v in m.result().items()} for m in metrics]

    out = {
        "semseg_miou": _best(results(classes[SEMSEG]), "semseg_miou"),
        "parts_miou": _best(results(classes[PARTS]), "parts_miou"),
        "edges_odsf": _best(results(edges), "edges_odsf"),
        "saliency_maxiou": _best(results(saliency), "saliency_maxiou"),
        "saliency_maxf": _best(results(saliency), "saliency_maxf"),
    }
    out.update({k: float(v) for k, v in normals.result().items()})
    return out

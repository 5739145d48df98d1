from ct_keras.metrics.edges_ods_f import EdgesOdsF
from ct_keras.metrics.mean_iou import MeanIoU
from ct_keras.metrics.normals_angle_error import NormalsAngleError
from ct_keras.metrics.saliency_max_iou import SaliencyMaxIoU
from ct_keras.tasks import EDGES, NORMALS, NUM_TASKS, PARTS, SALIENCY, SEMSEG, task_id


def task_metrics(tasks=range(NUM_TASKS), edge_thresholds=99):
    """The paper's metric for each task id in `tasks`, as new metric objects.

    Each has a `.task` attribute, so a trainer can feed it
    `update_state(label, decode_tensor(raw, metric.task), sample_weight=palette == metric.task)`.

    Args:
        tasks: task ids (0 semseg, 1 parts, 2 edges, 3 saliency, 4 normals).
        edge_thresholds: `thresholds` of `EdgesOdsF`: a count (99 as in the paper's
            protocol; a few keep validation during training affordable) or a list.
    """
    factories = {
        SEMSEG: lambda: MeanIoU(SEMSEG),
        PARTS: lambda: MeanIoU(PARTS),
        EDGES: lambda: EdgesOdsF(thresholds=edge_thresholds),
        SALIENCY: SaliencyMaxIoU,
        NORMALS: NormalsAngleError,
    }
    return [factories[task_id(t)]() for t in tasks]

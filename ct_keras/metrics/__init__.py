"""The paper's evaluation metrics (§6, docs/design.md §1) as `keras.metrics.Metric` classes.

Each metric scores one task on the pixels the Task Palette assigns to it
(`sample_weight`), accumulates over a whole split, and returns a dict of named
scalars from `result()`; `multi_task` turns those into Δm and the paper's table row.
"""

from ct_keras.metrics.edges_ods_f import EdgesOdsF, edge_match_counts
from ct_keras.metrics.mean_iou import MeanIoU
from ct_keras.metrics.multi_task import (
    HEADLINE_METRICS, HIGHER_IS_BETTER, PAPER_COLUMNS, delta_m, paper_row,
)
from ct_keras.metrics.normals_angle_error import NormalsAngleError
from ct_keras.metrics.saliency_max_iou import SaliencyMaxIoU
from ct_keras.metrics.task_metrics import task_metrics

__all__ = [
    "EdgesOdsF", "HEADLINE_METRICS", "HIGHER_IS_BETTER", "MeanIoU", "NormalsAngleError",
    "PAPER_COLUMNS", "SaliencyMaxIoU", "delta_m", "edge_match_counts", "paper_row",
    "task_metrics",
]

"""The paper's evaluation metrics (§6, DESIGN §1) as `keras.metrics.Metric` classes.

Each metric scores one task on the pixels the Task Palette assigns to it
(`sample_weight`), accumulates over a whole split, and returns a dict of named
scalars from `result()`.
"""

from ct_keras.metrics.edges_ods_f import EdgesOdsF, edge_match_counts
from ct_keras.metrics.mean_iou import MeanIoU
from ct_keras.metrics.normals_angle_error import NormalsAngleError
from ct_keras.metrics.saliency_max_iou import SaliencyMaxIoU

__all__ = ["EdgesOdsF", "MeanIoU", "NormalsAngleError", "SaliencyMaxIoU", "edge_match_counts"]

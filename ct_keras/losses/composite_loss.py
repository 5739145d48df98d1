"""The training objective: each task's loss on its palette region, weighted and summed."""

from keras import ops

from ct_keras.losses.anchor_focal import anchor_focal_loss
from ct_keras.losses.binary import balanced_bce, weighted_bce
from ct_keras.losses.cosine import cosine_loss, l1_normals_loss
from ct_keras.tasks import (
    EDGES, NORMALS, PARTS, SALIENCY, SEMSEG, TASK_NAMES, anchor_matrix, check_anchors, task_id,
)

# The paper's task weights (docs/design.md §3).
LOSS_WEIGHTS = {"semseg": 3.0, "parts": 4.0, "edges": 50.0, "saliency": 8.0, "normals": 4.0}
NORMALS_LOSSES = ("cosine", "l1")


class CompositeLoss:
    """Per-task losses of a composite prediction and their weighted sum.

    Each task's loss is the mean over the pixels whose palette entry is that task and
    whose label is valid; a task with no such pixel in the batch contributes 0.

    Args:
        weights: `{task name: weight}`; missing tasks get the paper's weight.
        focal_gamma: γ of the anchor focal loss (paper Table 15 ablates 0–3).
        edges_positive_weight: weight of edge pixels in the edges BCE.
        normals_loss: `"cosine"` (the paper's) or `"l1"`.
        anchors: the network's class anchors (`net.anchors`, `{"semseg": {class: rgb},
            "parts": …}`); `None` → the paper's.
        tasks: the task ids trained (others are skipped), default all five.

    Call: `loss(raw, palette, targets)` → `(total, {task name: loss})`, float32 scalars.
    `palette=None` means every pixel asks for every task (single-task nets, rule S).
    """

    def __init__(self, weights=None, focal_gamma=2.0, edges_positive_weight=0.95,
                 normals_loss="cosine", anchors=None, tasks=None):
        unknown = set(weights or {}) - set(TASK_NAMES)
        if unknown:
            raise ValueError(f"Loss weights for unknown tasks {sorted(unknown)}; tasks are {TASK_NAMES}")
        if normals_loss not in NORMALS_LOSSES:
            raise ValueError(f"`normals_loss` must be one of {NORMALS_LOSSES}. Received {normals_loss!r}")
        if focal_gamma < 0:
            raise ValueError(f"`focal_gamma` must be >= 0. Received {focal_gamma}")
        self.weights = {**LOSS_WEIGHTS, **(weights or {})}
        self.focal_gamma = float(focal_gamma)
        self.edges_positive_weight = float(edges_positive_weight)
        self.normals_loss = normals_loss
        self.anchors = check_anchors(anchors)
        self.anchor_matrices = {k: anchor_matrix(k, self.anchors) for k in (SEMSEG, PARTS)}
        self.tasks = tuple(range(len(TASK_NAMES))) if tasks is None else tuple(task_id(t) for t in tasks)

    def task_loss(self, task, raw, target, mask=None):
        """The unweighted loss of one task."""
        if task in (SEMSEG, PARTS):
            return anchor_focal_loss(raw, target, self.anchor_matrices[task], mask, self.focal_gamma)
        if task == EDGES:
            return weighted_bce(raw, target, mask, self.edges_positive_weight)
        if task == SALIENCY:
            return balanced_bce(raw, target, mask)
        if task == NORMALS:
            fn = cosine_loss if self.normals_loss == "cosine" else l1_normals_loss
            return fn(raw, target, mask)
        raise ValueError(f"Unknown task id {task}")

    def __call__(self, raw, palette, targets):
        losses = {}
        total = ops.zeros((), "float32")
        for k in self.tasks:
            name = TASK_NAMES[k]
            mask = None if palette is None else ops.equal(palette, k)
            losses[name] = self.task_loss(k, raw, targets[name], mask)
            total = total + self.weights[name] * losses[name]
        return total, losses

"""The CompositeTasking losses (docs/design.md §3): one per task, each a mean over the pixels the
Task Palette gives to that task and that have a valid label; `CompositeLoss` sums them."""

from ct_keras.losses.anchor_focal import anchor_focal_loss, quasi_logits
from ct_keras.losses.binary import balanced_bce, weighted_bce
from ct_keras.losses.composite_loss import LOSS_WEIGHTS, CompositeLoss
from ct_keras.losses.cosine import cosine_loss, l1_normals_loss
from ct_keras.losses.masked_mean import masked_mean

"""The CompositeTasking network and the paper's baselines (§5.2)."""

from ct_keras.models.composite_tasking_net import CompositeTaskingNet
from ct_keras.models.multi_head_net import MultiHeadNet
from ct_keras.models.multi_net import MultiNet
from ct_keras.models.resnet_backbone import ResNetBackbone
from ct_keras.models.single_task_net import SingleTaskNet

MODELS = {
    "ctn": CompositeTaskingNet,
    "stn": SingleTaskNet,
    "mhn": MultiHeadNet,
    "mn": MultiNet,
}

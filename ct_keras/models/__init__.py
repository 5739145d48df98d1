"""The CompositeTasking network and the paper's baselines (§5.2)."""

from ct_keras.models.composite_tasking_net import CompositeTaskingNet
from ct_keras.models.model_dir import (
    MODELS,
    build_model,
    load_model_dir,
    read_model_description,
    save_model_description,
)
from ct_keras.models.multi_head_net import MultiHeadNet
from ct_keras.models.multi_net import MultiNet
from ct_keras.models.palette_net import PaletteNet
from ct_keras.models.resnet_backbone import ResNetBackbone
from ct_keras.models.single_task_net import SingleTaskNet


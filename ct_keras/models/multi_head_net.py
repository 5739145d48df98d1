import keras

from ct_keras.layers.image_normalization import ImageNormalization
from ct_keras.layers.palette_select import PaletteSelect
from ct_keras.models.resnet_backbone import ResNetBackbone
from ct_keras.models.task_net import TaskNet, model_inputs
from ct_keras.models.unet_decoder import plain_block, unet_decoder
from ct_keras.tasks import NUM_TASKS, TASK_NAMES, check_anchors


def task_prefix(k):
    return f"{TASK_NAMES[k] if k < len(TASK_NAMES) else f'task{k}'}_"


@keras.saving.register_keras_serializable(package="ct_keras")
class MultiHeadNet(TaskNet):
    """Multi-head baseline (MHN, paper §5.2): one shared encoder, one plain decoder per
    task; the outputs are composed by the Task Palette.

    Same inputs and output as `CompositeTaskingNet`. Pixels whose palette id names no
    task get -1, as in the reference.

    Args:
        backbone, image_size, num_tasks, skip_kernel_size, decoder_kernel_size,
        output_channels, anchors: as `CompositeTaskingNet`.

    Example:
    >>> MultiHeadNet(backbone="resnet18", image_size=64, num_tasks=2)
    """

    def __init__(self, backbone="resnet34", image_size=256, num_tasks=NUM_TASKS,
                 skip_kernel_size=1, decoder_kernel_size=3, output_channels=3, anchors=None,
                 **kwargs):
        config = dict(locals())
        config["anchors"] = check_anchors(anchors)
        image, palette = model_inputs(image_size)
        x = ImageNormalization(name="image_normalization")(image)
        encoder = ResNetBackbone(backbone, image_shape=image.shape[1:], name="encoder")
        features = encoder(x)
        outputs = [
            unet_decoder(x, features, plain_block, output_channels, skip_kernel_size,
                         decoder_kernel_size, prefix=task_prefix(k))
            for k in range(num_tasks)
        ]
        raw = PaletteSelect(name="palette_select")([palette] + outputs)
        kwargs.setdefault("name", "multi_head_net")
        super().__init__(inputs={"image": image, "palette": palette}, outputs=raw, **kwargs)
        self._store_config(config)
        self.encoder = encoder

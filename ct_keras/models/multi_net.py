import keras

from ct_keras.layers.image_normalization import ImageNormalization
from ct_keras.layers.palette_select import PaletteSelect
from ct_keras.models.multi_head_net import task_prefix
from ct_keras.models.resnet_backbone import ResNetBackbone
from ct_keras.models.task_net import TaskNet, model_inputs
from ct_keras.models.unet_decoder import plain_block, unet_decoder
from ct_keras.tasks import NUM_TASKS, check_anchors


@keras.saving.register_keras_serializable(package="ct_keras")
class MultiNet(TaskNet):
    """Multi-network baseline (MN): K whole single-task networks, each with its own
    encoder and decoder, composed by the Task Palette.

    Same inputs, output and arguments as `MultiHeadNet`.
    """

    def __init__(self, backbone="resnet34", image_size=256, num_tasks=NUM_TASKS,
                 skip_kernel_size=1, decoder_kernel_size=3, output_channels=3, anchors=None,
                 **kwargs):
        config = dict(locals())
        config["anchors"] = check_anchors(anchors)
        image, palette = model_inputs(image_size)
        x = ImageNormalization(name="image_normalization")(image)
        outputs = []
        for k in range(num_tasks):
            encoder = ResNetBackbone(backbone, image_shape=image.shape[1:],
                                     name=f"{task_prefix(k)}encoder")
            outputs.append(unet_decoder(x, encoder(x), plain_block, output_channels,
                                        skip_kernel_size, decoder_kernel_size,
                                        prefix=task_prefix(k)))
        raw = PaletteSelect(name="palette_select")([palette] + outputs)
        kwargs.setdefault("name", "multi_net")
        super().__init__(inputs={"image": image, "palette": palette}, outputs=raw, **kwargs)
        self._store_config(config)

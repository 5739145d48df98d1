import keras

from ct_keras.layers.image_normalization import ImageNormalization
from ct_keras.models.resnet_backbone import ResNetBackbone
from ct_keras.models.task_net import TaskNet, model_inputs
from ct_keras.models.unet_decoder import plain_block, unet_decoder
from ct_keras.tasks import TASK_NAMES, check_anchors, task_id


@keras.saving.register_keras_serializable(package="ct_keras")
class SingleTaskNet(TaskNet):
    """Single-task baseline (STN, paper §5.2): the CompositeTasking architecture with a
    plain BatchNorm in place of every task composition block, one network per task.

    Input: the image alone, float32 `[B, H, W, 3]` RGB in 0..255 (or `{"image": …}`).
    Output: the raw float32 `[B, H, W, 3]` prediction of `task`.

    Args:
        task: the task it predicts, by id or name (`"semseg"`, `"parts"`, …).
        backbone: `"resnet18"`, `"resnet34"`, `"resnet50"` or `"resnet101"`.
        image_size: int or (H, W), multiples of 32.
        skip_kernel_size, decoder_kernel_size, output_channels, anchors: as
            `CompositeTaskingNet` (anchors decode an STN of semseg or parts).

    Example:
    >>> SingleTaskNet(task="normals", backbone="resnet18", image_size=64)(np.zeros((1, 64, 64, 3))).shape
    (1, 64, 64, 3)
    """

    uses_palette = False

    def __init__(self, task=0, backbone="resnet34", image_size=256, skip_kernel_size=1,
                 decoder_kernel_size=3, output_channels=3, anchors=None, **kwargs):
        config = dict(locals())
        config["anchors"] = check_anchors(anchors)
        task = config["task"] = task_id(task)
        image = model_inputs(image_size, with_palette=False)
        x = ImageNormalization(name="image_normalization")(image)
        encoder = ResNetBackbone(backbone, image_shape=image.shape[1:], name="encoder")
        raw = unet_decoder(x, encoder(x), plain_block, output_channels, skip_kernel_size,
                           decoder_kernel_size)
        kwargs.setdefault("name", f"single_task_net_{TASK_NAMES[task]}")
        super().__init__(inputs=image, outputs=raw, **kwargs)
        self._store_config(config)
        self.encoder = encoder

import keras

from ct_keras.layers.image_normalization import ImageNormalization
from ct_keras.models.resnet_backbone import ResNetBackbone
from ct_keras.models.task_net import TaskNet, model_inputs
from ct_keras.models.unet_decoder import plain_block, unet_decoder
from ct_keras.tasks import NUM_TASKS

PALETTE_RULES = ("r2", "r3")


@keras.saving.register_keras_serializable(package="ct_keras")
class PaletteNet(TaskNet):
    """The palette network (paper §6.2): predicts the Task Palette from the image alone.

    A semantic segmentation into the tasks: the U-Net of the single-task baseline (plain
    blocks) with a head of one logit per task, trained on the palettes that a semantic
    rule (R2 or R3) makes from the semseg labels. Its argmax is a palette that
    `CompositeTaskingNet` can take (`--palette=predicted` in tools/predict.py).

    Input: the image, float32 `[B, H, W, 3]` RGB in 0..255 (or `{"image": …}`).
    Output: float32 logits `[B, H, W, num_tasks]`.

    Args:
        rule: the semantic rule it learns, "r2" or "r3" (recorded with the model).
        backbone, image_size, skip_kernel_size, decoder_kernel_size: as `SingleTaskNet`.
        num_tasks: tasks it chooses among.

    Example:
    >>> PaletteNet(rule="r2", backbone="resnet18", image_size=64)(np.zeros((1, 64, 64, 3))).shape
    (1, 64, 64, 5)
    """

    uses_palette = False

    def __init__(self, rule="r2", backbone="resnet34", image_size=256, skip_kernel_size=1,
                 decoder_kernel_size=3, num_tasks=NUM_TASKS, **kwargs):
        config = dict(locals())
        if rule not in PALETTE_RULES:
            raise ValueError(f"`rule` of a palette network must be one of {PALETTE_RULES} "
                             f"(a palette that follows the image). Received {rule!r}")
        image = model_inputs(image_size, with_palette=False)
        x = ImageNormalization(name="image_normalization")(image)
        encoder = ResNetBackbone(backbone, image_shape=image.shape[1:], name="encoder")
        logits = unet_decoder(x, encoder(x), plain_block, num_tasks, skip_kernel_size,
                              decoder_kernel_size)
        kwargs.setdefault("name", f"palette_net_{rule}")
        super().__init__(inputs=image, outputs=logits, **kwargs)
        self._store_config(config)
        self.encoder = encoder

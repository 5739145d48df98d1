import keras

from ct_keras.layers.image_normalization import ImageNormalization
from ct_keras.layers.task_composition import TaskComposition
from ct_keras.layers.task_representation import TaskRepresentation
from ct_keras.models.resnet_backbone import ResNetBackbone
from ct_keras.models.task_net import TaskNet, model_inputs
from ct_keras.models.unet_decoder import HIDDEN_DIMS, unet_decoder
from ct_keras.tasks import NUM_TASKS, check_anchors


@keras.saving.register_keras_serializable(package="ct_keras")
class CompositeTaskingNet(TaskNet):
    """The CompositeTasking network (paper §3, Fig. 2): one encoder, one conditioned decoder.

    The encoder sees the image alone. The Task Palette goes through the task
    representation block into an embedding pyramid that conditions every
    `TaskComposition` block of the decoder and of the skips, so each pixel gets the
    task its palette entry asks for, all in one forward pass.

    Inputs: `{"image": float32 [B, H, W, 3] RGB in 0..255, "palette": int32 [B, H, W]}`
    (ImageNet normalisation happens inside). Output: the raw float32 `[B, H, W, 3]`
    composite; `ct_keras.tasks.decode` turns it into class maps, probabilities, normals.

    Args:
        backbone: `"resnet18"`, `"resnet34"` (the paper's), `"resnet50"` or `"resnet101"`.
        image_size: int or (H, W), multiples of 32. Shapes are static (docs/design.md §7).
        num_tasks: K; ids 0 … K-1 (the paper's five: `ct_keras.tasks.TASK_NAMES`).
        code_length, embedding_dim, mlp_depth, pyramid_interpolation: see
            `TaskRepresentation` (paper Tables 11, 12, 14).
        num_shared_convs: 1×1 convs computing s in each block (Table 9).
        skip_kernel_size, decoder_kernel_size: kernels on skips (1) and in the decoder
            (3; Table 10 ablates 1).
        output_channels: channels of the raw output (Table 13: 3/6/9).
        head_bias: initial bias of the output layer (see `unet_decoder`; the demo's
            recipe starts at -3, sigmoid ≈ 0.05).
        anchors: class anchors `{"semseg": {class: [x1, x2, x3]}, "parts": {…}}` in 0..255
            (paper eq. 5); `None` → the paper's Tables 5 and 6. Stored in the config.

    Example:
    >>> model = CompositeTaskingNet(backbone="resnet18", image_size=64)
    >>> model({"image": np.zeros((1, 64, 64, 3)), "palette": np.zeros((1, 64, 64), "int32")}).shape
    (1, 64, 64, 3)
    """

    def __init__(self, backbone="resnet34", image_size=256, num_tasks=NUM_TASKS, code_length=20,
                 embedding_dim=128, mlp_depth=6, num_shared_convs=1, skip_kernel_size=1,
                 decoder_kernel_size=3, output_channels=3, pyramid_interpolation="bilinear",
                 anchors=None, head_bias=0.0, **kwargs):
        config = dict(locals())
        config["anchors"] = check_anchors(anchors)
        image, palette = model_inputs(image_size)
        x = ImageNormalization(name="image_normalization")(image)
        encoder = ResNetBackbone(backbone, image_shape=image.shape[1:], name="encoder")
        representation = TaskRepresentation(
            num_tasks=num_tasks, code_length=code_length, embedding_dim=embedding_dim,
            mlp_depth=mlp_depth, pyramid_interpolation=pyramid_interpolation,
            name="task_representation",
        )
        # The embedding pyramid in its factored form (`TaskRepresentation`): each block's
        # conditioning runs on the K+1 task vectors, not on every pixel's embedding.
        *mixes, vectors = representation(palette, factored=True)
        nearest = pyramid_interpolation == "nearest"

        def make_block(filters, kernel_size, level, name):
            block = TaskComposition(filters, kernel_size, HIDDEN_DIMS[level], num_shared_convs, name=name)
            return lambda t: block([t, mixes[level], vectors], one_hot_mix=level == 0 or nearest)

        raw = unet_decoder(x, encoder(x), make_block, output_channels, skip_kernel_size,
                           decoder_kernel_size, head_bias=head_bias)
        kwargs.setdefault("name", "composite_tasking_net")
        super().__init__(inputs={"image": image, "palette": palette}, outputs=raw, **kwargs)
        self._store_config(config)
        self.encoder = encoder
        self.task_representation = representation

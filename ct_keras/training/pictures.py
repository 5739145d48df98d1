"""A TensorBoard picture of composite predictions after every epoch."""

import keras
import numpy as np
import tensorflow as tf

from ct_keras.tasks import colourise, colourise_palette


def composite_picture(images, palettes, raw, anchors):
    """Rows of [image | palette | composite prediction], uint8 `[N, H, 3W, 3]`; class maps
    in the colours of `anchors` (the net's)."""
    rows = []
    for image, palette, out in zip(images, palettes, raw):
        rows.append(np.concatenate([
            np.clip(image, 0, 255).astype(np.uint8),
            colourise_palette(palette),
            colourise(out, palette, anchors),
        ], axis=1))
    return np.stack(rows)


class CompositePictures(keras.callbacks.Callback):
    """Writes `composite_picture` of a fixed validation batch to TensorBoard each epoch.

    Args:
        inputs: a batch `{"image", "palette"}` (numpy).
        log_dir: TensorBoard folder (a `validation_pictures` writer goes under it).
        max_images: how many rows.

    Class maps are decoded and drawn with the anchors of the trained net.
    """

    def __init__(self, inputs, log_dir, max_images=4):
        super().__init__()
        self.inputs = {k: np.asarray(v)[:max_images] for k, v in inputs.items()}
        self.writer = tf.summary.create_file_writer(f"{log_dir}/pictures")

    def on_epoch_end(self, epoch, logs=None):
        raw = np.asarray(self.model.predict_on_batch(self.inputs))
        net = getattr(self.model, "net", self.model)  # the trainer, or a bare network
        picture = composite_picture(self.inputs["image"], self.inputs["palette"], raw, net.anchors)
        with self.writer.as_default():
            tf.summary.image("composite", picture, step=epoch + 1, max_outputs=len(picture))
        self.writer.flush()

"""A trained palette network (paper §6.2) as the `palette_model` of `--palette=predicted`."""

import numpy as np

from ct_keras.deploy.user_inputs import resize_image
from ct_keras.palettes.resize import resize_nearest


class PalettePredictor:
    """`predictor(image)`: the Task Palette `[H, W]` a `PaletteNet` predicts for an RGB
    uint8 image of any size (resized to the network's size and the palette back, nearest)."""

    def __init__(self, model_dir, checkpoint="best"):
        from ct_keras.models import PaletteNet, load_model_dir

        self.source = model_dir
        self.net = load_model_dir(model_dir, checkpoint)
        if not isinstance(self.net, PaletteNet):
            raise ValueError(f"--palette_model {model_dir} holds a {type(self.net).__name__}, not a "
                             "palette network (train one with tools/train.py --model=palette)")
        self.image_hw = tuple(self.net.image_hw)

    def __call__(self, image):
        image = np.asarray(image, np.uint8)
        small = resize_image(image, self.image_hw)[None].astype(np.float32)
        logits = np.asarray(self.net(small, training=False))[0]
        return resize_nearest(np.argmax(logits, axis=-1).astype(np.int32), image.shape[:2])

"""A palette network (paper §6.2) as the `palette_model` of `--palette=predicted`: from a
training run (`PalettePredictor`) or from an export that holds one (`ExportedPalette`)."""

import numpy as np

from ct_keras.deploy.user_inputs import resize_image
from ct_keras.palettes.resize import resize_nearest


class _PaletteFromImages:
    """`predictor(image)`: the Task Palette `[H, W]` predicted for an RGB uint8 image of any
    size (resized, bicubic, to the network's size; the palette back, nearest)."""

    image_hw = None
    source = None

    def _palettes(self, images):
        """float32 `[B, h, w, 3]` at `image_hw` → int `[B, h, w]` task ids."""
        raise NotImplementedError

    def __call__(self, image):
        image = np.asarray(image, np.uint8)
        small = resize_image(image, self.image_hw)[None].astype(np.float32)
        palette = np.asarray(self._palettes(small))[0].astype(np.int32)
        return resize_nearest(palette, image.shape[:2])


class PalettePredictor(_PaletteFromImages):
    """The palette network of a training run (`tools/train.py --model=palette`)."""

    def __init__(self, model_dir, checkpoint="best"):
        from ct_keras.models import PaletteNet, load_model_dir

        self.source = model_dir
        self.net = load_model_dir(model_dir, checkpoint)
        if not isinstance(self.net, PaletteNet):
            raise ValueError(f"--palette_model {model_dir} holds a {type(self.net).__name__}, not a "
                             "palette network (train one with tools/train.py --model=palette)")
        self.image_hw = tuple(self.net.image_hw)

    def _palettes(self, images):
        return np.argmax(np.asarray(self.net(images, training=False)), axis=-1)


class ExportedPalette(_PaletteFromImages):
    """The palette network inside an export: `run(images) → palettes` is its SavedModel
    `palette` signature or its `palette_fp32.tflite`."""

    def __init__(self, run, image_hw, source):
        self._run = run
        self.image_hw = tuple(image_hw)
        self.source = source

    def _palettes(self, images):
        return self._run(images)

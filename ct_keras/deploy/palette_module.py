"""The palette network (paper §6.2) in an export: image → the Task Palette it predicts.

`PaletteModule` is a `tf.Module` over a trained `PaletteNet`: alone it is what the TFLite
palette file holds (`serving_default`: `image` → `palette`); inside a `ServingModule` it
gives the SavedModel its `palette` and `predicted_palette` signatures.
"""

import tensorflow as tf

from ct_keras.tasks import NUM_TASKS


def check_palette_net(palette_net, image_hw, num_tasks=NUM_TASKS, source="the palette network"):
    """Raises a `ValueError` naming `source` unless `palette_net` is a `PaletteNet` that
    takes images of `image_hw` and chooses among `num_tasks` tasks (those of the CTN it
    is exported with)."""
    from ct_keras.models import PaletteNet

    if not isinstance(palette_net, PaletteNet):
        raise ValueError(f"{source} holds a {type(palette_net).__name__}, not a palette network "
                         "(train one with tools/train.py --model=palette)")
    palette_hw = tuple(int(s) for s in palette_net.image_hw)
    if palette_hw != tuple(image_hw):
        raise ValueError(f"{source} takes {palette_hw[0]}x{palette_hw[1]} images, the CompositeTasking "
                         f"network {image_hw[0]}x{image_hw[1]}: train it with --image_size={image_hw[0]}")
    if int(palette_net.num_tasks) != int(num_tasks):
        raise ValueError(f"{source} chooses among {palette_net.num_tasks} tasks, the CompositeTasking "
                         f"network performs {num_tasks}")


class PaletteModule(tf.Module):
    """`palette(image)`: float32 `[B, H, W, 3]` RGB 0..255 → int32 `[B, H, W]` task ids,
    the argmax of the palette network's logits. Only the network's variables are tracked."""

    def __init__(self, palette_net, image_hw, num_tasks=NUM_TASKS, source="the palette network",
                 name="palette_network"):
        super().__init__(name=name)
        check_palette_net(palette_net, image_hw, num_tasks, source)
        self.image_hw = tuple(int(s) for s in image_hw)
        object.__setattr__(self, "_net", palette_net)
        self.palette_variables = [v.value for v in palette_net.variables]
        object.__setattr__(self, "rule", palette_net.rule)
        object.__setattr__(self, "source", source)

    def palette(self, image):
        logits = self._net(tf.cast(image, tf.float32), training=False)
        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    def signatures(self, batch_size=None):
        """`serving_default` (image → {"palette"}) at the static size TFLite needs."""
        image = tf.TensorSpec([batch_size, *self.image_hw, 3], tf.float32, name="image")

        def serving_default(image):
            return {"palette": self.palette(image)}

        return {"serving_default": tf.function(serving_default, input_signature=[image],
                                               autograph=False).get_concrete_function()}

"""Training throughput: one optimiser step on a batch, as a traced graph.

Until the project's trainer is used here, the step is forward + backward + Adam with a
stand-in loss (the mean square of the raw output); the real task losses are per-pixel
elementwise work, small beside the network.
"""

import keras
import tensorflow as tf


def step_fn(model):
    """`f(inputs) → loss` for one Adam step on `model` (a palette dict or an image)."""
    optimizer = keras.optimizers.Adam(1e-5)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(inputs):
        with tf.GradientTape() as tape:
            out = model(inputs, training=True)
            loss = tf.reduce_mean(tf.square(tf.cast(out, tf.float32)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return lambda inputs: float(step(inputs).numpy())


def training_step(kind, models, image, palette):
    """`f()` doing one training step of the whole model set on one batch: CTN, MHN and
    MN train on the composite palette; the five STNs each take a step on the image."""
    if kind == "stn":
        steps = [step_fn(m) for m in models["nets"]]
        return lambda: [s(image) for s in steps]
    step = step_fn(models["net"])
    batch = {"image": image, "palette": palette}
    return lambda: step(batch)


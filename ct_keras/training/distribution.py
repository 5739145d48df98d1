"""`--distribution_strategy` → a `tf.distribute.Strategy`."""

import tensorflow as tf

STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical devices (to run `mirrored` without GPUs).

    Must run before TensorFlow initialises its devices.
    """
    if num_devices <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as e:
        raise ValueError(f"`cpu_devices` must be set before TensorFlow starts ({e})") from None


def make_strategy(name, tpu_address=""):
    """The strategy called `name`; `mirrored` on a machine without GPUs mirrors over the
    logical CPU devices (see `split_cpu`)."""
    if name not in STRATEGIES:
        raise ValueError(f"`distribution_strategy` must be one of {STRATEGIES}. Received {name!r}")
    if name == "one_device":
        device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)

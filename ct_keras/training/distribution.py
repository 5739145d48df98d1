"""`--distribution_strategy` → a `tf.distribute.Strategy`, and what makes training under one
equal to training on one device with the same global batch."""

import keras
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


def shard_by_example(dataset):
    """Each worker of a multi-worker run takes its share of every global batch.

    The default (AUTO) shards by file when it can: workers would see different files
    (and fail when there are fewer files than workers), so global batches would differ
    from one device's. By DATA every worker reads the same seeded stream and keeps its
    replicas' slices of each batch: the global batches are one device's.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def batch_norm_layers(layer):
    """Every `BatchNormalization` in `layer`, found through public attributes: a model's
    `layers`, recursively, and the `norm` of the ct_keras blocks that keep one
    (`PlainBlock`, `TaskComposition`)."""
    found = []
    if isinstance(layer, keras.layers.BatchNormalization):
        found.append(layer)
    norm = getattr(layer, "norm", None)
    if isinstance(norm, keras.layers.BatchNormalization):
        found.append(norm)
    for sublayer in getattr(layer, "layers", ()):
        found.extend(batch_norm_layers(sublayer))
    return list({id(bn): bn for bn in found}.values())


def synchronize_batch_norm(net):
    """Makes every BatchNormalization of `net` use statistics of the global batch.

    With a batch split over replicas, each would otherwise normalise by its own slice
    (5 images of the paper's 10 on two GPUs); synchronised, N replicas compute what one
    device computes with the whole batch. Returns how many layers it changed.
    """
    layers = batch_norm_layers(net)
    # Each BatchNormalization owns one moving mean: a layer the walk cannot reach (a new
    # block keeping its norm under another name) is an error, not an unsynchronised layer.
    expected = sum(1 for w in net.weights if w.path.endswith("moving_mean"))
    if len(layers) != expected:
        raise ValueError(f"{net.name} has {expected} BatchNormalization layers, of which "
                         f"`batch_norm_layers` finds {len(layers)}: keep a block's norm in its `norm` attribute")
    for layer in layers:
        layer.synchronized = True
    return len(layers)


def is_multi_worker(strategy):
    """True for a `MultiWorkerMirroredStrategy` over more than one worker process."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()  # {} without TF_CONFIG
    return sum(len(cluster.get(job, ())) for job in ("chief", "worker")) > 1

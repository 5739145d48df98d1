"""Parameters (trainable / total) and GFLOPs per image of each model and backbone.

    python tools/model_summary.py                       # every model, ResNet34, 256²
    python tools/model_summary.py --models=ctn,stn --backbones=resnet18,resnet50 --image_size=512
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

flags.DEFINE_list("models", ["ctn", "stn", "mhn", "mn"], "Models: ctn, stn, mhn, mn, palette.")
flags.DEFINE_list("backbones", ["resnet34"], "Backbones: resnet18, resnet34, resnet50, resnet101.")
flags.DEFINE_integer("image_size", 256, "Square input size (a multiple of 32).")
flags.DEFINE_bool("flops", True, "Also count FLOPs (takes a few seconds per model).")
flags.DEFINE_bool("without_encoder", False, "Count what each net adds to a net whose encoder it shares "
                  "(tools/train.py --shared_encoder): everything but its encoder.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import tensorflow as tf

    from ct_keras.models import MODELS
    from ct_keras.models.complexity import count_flops, count_params

    tf.get_logger().setLevel("ERROR")
    unknown = [m for m in FLAGS.models if m not in MODELS]
    if unknown:
        raise app.UsageError(f"--models must be among {sorted(MODELS)}. Received {unknown}")
    print(f"| model | backbone | trainable params | total params | GFLOPs / {FLAGS.image_size}² image |")
    print("|---|---|---:|---:|---:|")
    for backbone in FLAGS.backbones:
        for name in FLAGS.models:
            model = MODELS[name](backbone=backbone, image_size=FLAGS.image_size)
            trainable, total = count_params(model)
            flops = count_flops(model) if FLAGS.flops else None
            if FLAGS.without_encoder:
                encoder_trainable, encoder_total = count_params(model.encoder)
                trainable, total = trainable - encoder_trainable, total - encoder_total
                flops = flops and flops - count_flops(model.encoder)
            gflops = "-" if flops is None else f"{flops / 1e9:.1f}"
            print(f"| {name.upper()} | {backbone} | {trainable:,} | {total:,} | {gflops} |", flush=True)


if __name__ == "__main__":
    run(main)

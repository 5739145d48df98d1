"""The `make demo` job: the built-in synthetic PASCAL-MT through the real pipeline and the model.

    python tools/demo.py [--data_dir=data/synthetic_pascal_mt] [--out=exported/demo]

Generates the synthetic data set in the real on-disk format (first run only), reads a
validation batch with the R1r and R2 palette rules, runs a CompositeTaskingNet (ResNet34,
256²) on it and writes one picture per rule: image | Task Palette | composite prediction.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from _cli import run  # noqa: E402

flags.DEFINE_string("data_dir", "data/synthetic_pascal_mt", "Where the synthetic set is (made if absent).")
flags.DEFINE_string("out", "exported/demo", "Where the pictures go.")
flags.DEFINE_string("weights", None, "Optional .weights.h5 to load (e.g. from tools/import_torch_checkpoint.py).")
flags.DEFINE_integer("num_train", 40, "Synthetic training images to generate.")
flags.DEFINE_integer("num_val", 8, "Synthetic validation images to generate.")
flags.DEFINE_integer("seed", 0, "Seed of the data set and the palettes.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if FLAGS.weights and not os.path.isfile(FLAGS.weights):
        raise FileNotFoundError(f"--weights file {FLAGS.weights} does not exist")
    import numpy as np
    from PIL import Image

    from ct_keras import tasks
    from ct_keras.data import detect_layout, generate_pascal_mt, make_dataset
    from ct_keras.models import CompositeTaskingNet
    from ct_keras.models.complexity import count_params

    if not os.path.isdir(FLAGS.data_dir):
        print(f"Generating the synthetic PASCAL-MT in {FLAGS.data_dir} …", flush=True)
        generate_pascal_mt(FLAGS.data_dir, FLAGS.num_train, FLAGS.num_val, seed=FLAGS.seed, size=256)
    detect_layout(FLAGS.data_dir)  # a folder that is not PASCAL-MT fails here, before any work
    model = CompositeTaskingNet(backbone="resnet34", image_size=256)
    if FLAGS.weights:
        model.load_weights(FLAGS.weights)
    trainable, _ = count_params(model)
    print(f"CompositeTaskingNet(resnet34, 256²): {trainable:,} trainable parameters")
    os.makedirs(FLAGS.out, exist_ok=True)
    for rule in ("r1r", "r2"):
        ds = make_dataset(FLAGS.data_dir, "val", rule=rule, image_size=(256, 256), batch_size=2,
                          augment=False, seed=FLAGS.seed)
        inputs, _ = next(iter(ds))
        inputs = {k: v.numpy() for k, v in inputs.items()}
        raw = model.predict(inputs, verbose=0)
        rows = [np.concatenate([inputs["image"][i].astype(np.uint8),
                                tasks.colourise_palette(inputs["palette"][i]),
                                tasks.colourise(raw[i], inputs["palette"][i])], axis=1)
                for i in range(len(raw))]
        path = os.path.join(FLAGS.out, f"composite_{rule}.png")
        Image.fromarray(np.concatenate(rows, axis=0)).save(path)
        counts = np.bincount(inputs["palette"].ravel(), minlength=tasks.NUM_TASKS)
        share = ", ".join(f"{n} {c / counts.sum():.0%}" for n, c in zip(tasks.TASK_NAMES, counts))
        print(f"{rule}: palette shares {share}; wrote {path}")
    if not FLAGS.weights:
        print("The weights are untrained: training (tools/train.py) is not part of this release yet.")


if __name__ == "__main__":
    run(main)

"""One picture of every palette source on one validation image (README "Say which task goes where").

    python tools/palette_sources.py --model=runs/demo --palette_model=runs/demo_palette \
        --data_dir=data/synthetic_pascal_mt_easy64 --out=docs/palette_sources.png

--model: a training run, a SavedModel export or a .tflite file; --palette_model: a palette
network's run (or none: the one an export holds; without either the 'predicted' row is
left out). The image and its semseg label (for r2) are the --index-th of the validation
split, enlarged to --panel_size; each row is what tools/predict.py writes for one source.
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model", None, "The CompositeTasking network: a run folder, an export or a .tflite.")
flags.DEFINE_string("palette_model", None, "A palette network's training run, for the 'predicted' row.")
flags.DEFINE_string("data_dir", "data/synthetic_pascal_mt_easy64", "PASCAL-MT (or the synthetic set).")
flags.DEFINE_integer("index", 0, "Which validation image.")
flags.DEFINE_integer("panel_size", 256, "The image is enlarged to this size before prediction.")
flags.DEFINE_string("out", "docs/palette_sources.png", "Where the picture goes.")
flags.mark_flag_as_required("model")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import numpy as np

    from ct_keras.data.layout import open_pascal_mt
    from ct_keras.deploy.pictures import save_png
    from ct_keras.deploy.user_inputs import resize_image
    from ct_keras.inference import load_predictor
    from ct_keras.inference.palette_sources import palette_sources_figure
    from ct_keras.palettes.resize import resize_nearest

    reader = open_pascal_mt(FLAGS.data_dir, "val")
    if not 0 <= FLAGS.index < len(reader):
        raise ValueError(f"--index: the validation split of {FLAGS.data_dir} has {len(reader)} images, "
                         f"not an index {FLAGS.index}")
    sample = reader.read(FLAGS.index)
    size = (FLAGS.panel_size, FLAGS.panel_size)
    palette_model = None
    if FLAGS.palette_model:
        from ct_keras.inference.palette_model import PalettePredictor

        palette_model = PalettePredictor(FLAGS.palette_model)
    predictor = load_predictor(FLAGS.model)
    palette_model = palette_model or predictor.palette_model
    from PIL import Image

    with tempfile.TemporaryDirectory() as work:
        image_path, label_path = os.path.join(work, "image.png"), os.path.join(work, "label.png")
        Image.fromarray(resize_image(sample["image"], size)).save(image_path)
        Image.fromarray(resize_nearest(sample["semseg"], size).astype(np.uint8)).save(label_path)
        picture = palette_sources_figure(predictor, image_path, label_path, work, palette_model)
    print(f"Wrote {save_png(picture, FLAGS.out)} ({reader.ids[FLAGS.index]}, "
          f"{'with' if palette_model else 'without'} the predicted palette)")


if __name__ == "__main__":
    run(main)

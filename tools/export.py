"""Exports a trained model for TF Serving (SavedModel) and for devices (TFLite).

    python tools/export.py --model_dir=runs/r1r --export_dir=exported/ctn \
        [--version=N] [--tflite=fp32,fp16,dynamic_int8,int8]
    python tools/export.py --weights=ctn.weights.h5 --backbone=resnet34 --image_size=256 \
        --export_dir=exported/ctn

Writes `<export_dir>/<version>/` (a SavedModel in TF Serving's layout, renamed into
place when complete) and, with --tflite, `<export_dir>/tflite/<version>/model_<q>.tflite`.
The export is made from a float32 twin of the model, through the exact fast path
(--nofast: the Keras graph). With --verify (default) the SavedModel is checked against
the Keras model (≤ 1e-4) and the fp32 TFLite against the SavedModel (≤ 1e-3).
--sample_image runs the new SavedModel on a picture and writes what it predicts.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("model_dir", None, "A training run's folder (model.json + checkpoints/).")
flags.DEFINE_enum("checkpoint", "best", ["best", "last"], "Which checkpoint of --model_dir.")
flags.DEFINE_string("weights", None, "Instead of --model_dir: a .weights.h5 file (e.g. from "
                    "tools/import_torch_checkpoint.py), with --model, --backbone and --image_size.")
flags.DEFINE_enum("model", "ctn", ["ctn", "mhn", "mn"], "With --weights: the model the weights are for.")
flags.DEFINE_enum("backbone", "resnet34", ["resnet18", "resnet34", "resnet50", "resnet101"],
                  "With --weights: the encoder depth.")
flags.DEFINE_integer("image_size", 256, "With --weights: the input size (a multiple of 32).")
flags.DEFINE_string("anchors", "paper", "With --weights: the class anchors the weights were trained "
                    "with, as tools/train.py --anchors (paper, a JSON file or colour map files; a "
                    "checkpoint of the authors' code: their colourmap_seg21.txt,colourmap_parts7.txt).")
flags.DEFINE_string("export_dir", "exported/ctn", "Base folder of the versions (TF Serving's model_base_path).")
flags.DEFINE_integer("version", None, "Version number; default one more than the highest present.")
flags.DEFINE_string("palette_model", None, "A palette network's training run (tools/train.py --model=palette, "
                    "the same --image_size): exported beside the network, as the SavedModel's palette and "
                    "predicted_palette signatures and palette_fp32.tflite.")
flags.DEFINE_list("tflite", [], "TFLite files to make: any of fp32, fp16, dynamic_int8, int8.")
flags.DEFINE_string("data_dir", "data/synthetic_pascal_mt", "PASCAL-MT whose training images calibrate int8.")
flags.DEFINE_integer("calibration_images", 200, "Training images that calibrate int8.")
flags.DEFINE_bool("fast", True, "Export the exact fast path (--nofast: the Keras graph; needed for MHN/MN).")
flags.DEFINE_bool("constant_weights", False, "SavedModel of the fast path with its weights as graph constants, "
                  "not variables: faster under oneDNN (1.2-1.5x on an AVX2 box) but about 3x the server's "
                  "memory (docs/deployment.md).")
flags.DEFINE_bool("verify", True, "Check the exports against the Keras model on a random input.")
flags.DEFINE_string("sample_image", None, "Run the SavedModel on this picture and write the prediction.")
flags.DEFINE_string("sample_palette", "quadrants", "Task Palette of --sample_image (see tools/tflite_demo.py).")
flags.DEFINE_bool("resize", False, "Resize --sample_image to the model's size instead of refusing it.")
FLAGS = flags.FLAGS

SAVED_MODEL_TOLERANCE = 1e-4
TFLITE_TOLERANCE = 1e-3
# The palette network is an argmax: float round-off may flip a pixel whose two best
# logits tie; measured 100 % on the tests' random weights.
PALETTE_AGREEMENT = 0.999
# An int8 palette file is kept when its palette mIoU is within this of the fp32 one's.
PALETTE_INT8_POINTS = 1.0


def _load_model():
    from ct_keras.models import MODELS, load_model_dir

    if bool(FLAGS.model_dir) == bool(FLAGS.weights):
        raise app.UsageError("Give exactly one of --model_dir and --weights")
    if FLAGS.model_dir:
        if FLAGS["anchors"].present:
            raise app.UsageError("--anchors is for --weights: a --model_dir's model.json has its anchors")
        return load_model_dir(FLAGS.model_dir, FLAGS.checkpoint)
    if not FLAGS.weights.endswith(".weights.h5"):
        raise ValueError(f"--weights must be a .weights.h5 file. Received {FLAGS.weights!r}")
    if not os.path.isfile(FLAGS.weights):
        raise FileNotFoundError(f"--weights file {FLAGS.weights} does not exist")
    import keras

    from ct_keras.tasks import read_anchors

    try:
        anchors = read_anchors(FLAGS.anchors)
    except (ValueError, FileNotFoundError) as e:
        raise ValueError(f"--anchors: {e}") from None
    keras.config.set_dtype_policy("float32")
    model = MODELS[FLAGS.model](backbone=FLAGS.backbone, image_size=FLAGS.image_size, anchors=anchors)
    try:
        model.load_weights(FLAGS.weights)
    except ValueError as e:
        raise ValueError(
            f"--weights {FLAGS.weights} do not fit a {FLAGS.model} with --backbone={FLAGS.backbone}: {e}"
        ) from None
    return model


def _palette_source():
    return os.path.abspath(FLAGS.palette_model) if FLAGS.palette_model else None


def _load_palette_net(model):
    """The --palette_model run's network, checked against `model` before any export."""
    if FLAGS.palette_model is None:
        return None
    from ct_keras.deploy.palette_module import check_palette_net
    from ct_keras.models import load_model_dir

    net = load_model_dir(FLAGS.palette_model, "best")
    check_palette_net(net, tuple(model.image_hw), model.num_tasks, source=f"--palette_model {FLAGS.palette_model}")
    return net


def _keep_int8_palette_if_close(fp32_file, int8_file, palette_net, image_hw):
    """Scores both palette files on --data_dir's validation split (the palette network's
    rule); the int8 one stays only within PALETTE_INT8_POINTS of fp32's palette mIoU."""
    import json

    from ct_keras.deploy.tflite_palette import palette_runner
    from ct_keras.deploy.user_inputs import TFLITE_INFO
    from ct_keras.training.palette_training import evaluate_palette_net

    def score(file):  # one interpreter per file, not one per batch
        return evaluate_palette_net(palette_runner(file), FLAGS.data_dir, palette_net.rule, image_hw[0],
                                    batch_size=8)["palette_miou"]

    fp32, int8 = score(fp32_file), score(int8_file)
    size = os.path.getsize(int8_file) / 2**20
    if int8 >= fp32 - PALETTE_INT8_POINTS:
        print(f"TFLite palette network int8: {int8_file} ({size:.1f} MiB), palette mIoU {int8:.2f} % "
              f"(fp32 {fp32:.2f} %) on {FLAGS.data_dir} val")
        return
    os.remove(int8_file)
    info_path = os.path.join(os.path.dirname(int8_file), TFLITE_INFO)
    with open(info_path) as f:
        info = json.load(f)
    info["palette_model"].pop("int8_file", None)
    from ct_keras.atomic_files import write_json_atomically

    write_json_atomically(info_path, info)
    print(f"TFLite palette network int8: not kept — palette mIoU {int8:.2f} % against {fp32:.2f} % in fp32 "
          f"(more than {PALETTE_INT8_POINTS} point lower) on {FLAGS.data_dir} val")


def _sample_inputs(image_hw):
    from ct_keras.deploy import user_inputs

    image = user_inputs.load_image(FLAGS.sample_image)
    if FLAGS.resize:
        image = user_inputs.resize_image(image, image_hw)
    user_inputs.check_image(image, image_hw, name=f"--sample_image {FLAGS.sample_image}")
    palette = user_inputs.parse_palette(FLAGS.sample_palette, image_hw)
    return image, palette


def _random_inputs(image_hw, batch=2, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 255, (batch, *image_hw, 3)).astype(np.float32),
            rng.integers(0, 5, (batch, *image_hw)).astype(np.int32))


def _max_difference(a, b):
    import numpy as np

    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # TF's saving and conversion chatter
    from ct_keras.deploy import tflite

    quantizations = tflite.check_quantizations(FLAGS.tflite)
    if "int8" in quantizations and not os.path.isdir(FLAGS.data_dir):
        raise FileNotFoundError(
            f"int8 is calibrated on training images: --data_dir {FLAGS.data_dir} does not exist "
            "(make a synthetic set with tools/make_synthetic_pascal_mt.py)"
        )
    if FLAGS.version is not None and FLAGS.version < 0:
        raise app.UsageError(f"--version must be a non-negative integer. Received {FLAGS.version}")
    if FLAGS.constant_weights and not FLAGS.fast:
        raise app.UsageError("--constant_weights is for the fast path's SavedModel: drop --nofast "
                             "or --constant_weights")
    if FLAGS.version is not None and os.path.exists(os.path.join(FLAGS.export_dir, str(FLAGS.version))):
        raise ValueError(f"{os.path.join(FLAGS.export_dir, str(FLAGS.version))} already exists: "
                         "a served version is never overwritten; pick another --version")
    if FLAGS.sample_image and not os.path.isfile(FLAGS.sample_image):
        raise FileNotFoundError(f"--sample_image file {FLAGS.sample_image} does not exist")

    import numpy as np
    import tensorflow as tf

    from ct_keras.deploy.pictures import demo_strip, save_png
    from ct_keras.deploy.saved_model import export_saved_model

    model = _load_model()
    image_hw = tuple(model.image_hw)
    palette_net = _load_palette_net(model)
    sample = _sample_inputs(image_hw) if FLAGS.sample_image else None  # bad inputs fail before any work
    path = export_saved_model(model, FLAGS.export_dir, FLAGS.version, fast=FLAGS.fast, palette_net=palette_net,
                              constant_weights=FLAGS.constant_weights,
                              palette_source=_palette_source())
    version = int(os.path.basename(path))
    print(f"SavedModel ({'fast path' if FLAGS.fast else 'Keras graph'}, "
          f"{image_hw[0]}x{image_hw[1]}{', with the palette network' if palette_net else ''}): {path}")

    images, palettes = _random_inputs(image_hw)
    served = tf.saved_model.load(path).signatures["serving_default"]
    served_raw = None
    if FLAGS.verify or quantizations:
        served_raw = served(image=tf.constant(images), palette=tf.constant(palettes))["raw"].numpy()
    if FLAGS.verify and palette_net is not None:
        loaded = tf.saved_model.load(path).signatures["palette"]
        served_palette = loaded(image=tf.constant(images))["palette"].numpy()
        keras_palette = np.argmax(palette_net(images, training=False).numpy(), axis=-1)
        agreement = float(np.mean(served_palette == keras_palette))
        print(f"  palette signature vs Keras: {100 * agreement:.3f} % of pixels the same task")
        if agreement < PALETTE_AGREEMENT:
            raise RuntimeError(f"The exported palette network agrees with Keras on {100 * agreement:.3f} % of pixels")
    if FLAGS.verify:
        keras_raw = model({"image": images, "palette": palettes}, training=False).numpy()
        difference = _max_difference(served_raw, keras_raw)
        scale = max(1.0, float(np.abs(keras_raw).max()))
        print(f"  SavedModel vs Keras: max |raw difference| {difference:.2e}")
        if difference > SAVED_MODEL_TOLERANCE * scale:
            raise RuntimeError(f"The SavedModel differs from the Keras model by {difference:.2e}")

    if quantizations:
        representative = None
        if "int8" in quantizations:
            representative = tflite.representative_inputs(
                FLAGS.data_dir, image_hw, num_images=FLAGS.calibration_images)
        out_dir = os.path.join(FLAGS.export_dir, "tflite", str(version))
        paths = tflite.export_tflite(model, out_dir, quantizations, fast=FLAGS.fast,
                                     representative_dataset=representative, palette_net=palette_net,
                                     palette_source=_palette_source())
        palette_file = paths.pop("palette", None)
        if palette_file:
            line = f"TFLite palette network: {palette_file} ({os.path.getsize(palette_file) / 2**20:.1f} MiB)"
            if FLAGS.verify:
                lite = tflite.run_tflite_palette(palette_file, images)
                line += f", {100 * float(np.mean(lite == served_palette)):.3f} % of pixels as the SavedModel"
            print(line)
        palette_int8 = paths.pop("palette_int8", None)
        if palette_int8:
            _keep_int8_palette_if_close(palette_file, palette_int8, palette_net, image_hw)
        for quantization, file in paths.items():
            line = f"TFLite {quantization}: {file} ({os.path.getsize(file) / 2**20:.1f} MiB)"
            if FLAGS.verify:
                raw = tflite.run_tflite(file, images, palettes)["raw"]
                difference = _max_difference(raw, served_raw)
                line += f", max |raw difference| to the SavedModel {difference:.2e}"
                if quantization == "fp32" and difference > TFLITE_TOLERANCE * max(1.0, np.abs(served_raw).max()):
                    raise RuntimeError(f"The fp32 TFLite model differs from the SavedModel by {difference:.2e}")
            print(line)

    if sample is not None:
        image, palette = sample
        outputs = served(image=tf.constant(image[None].astype(np.float32)),
                         palette=tf.constant(palette[None]))
        outputs = {k: v.numpy()[0] for k, v in outputs.items()}
        out = save_png(demo_strip(image, palette, outputs, model.anchors),
                       os.path.join(FLAGS.export_dir, "samples", f"{version}.png"))
        print(f"Sample prediction: {out}")


if __name__ == "__main__":
    run(main)

"""CompositeTasking on your own images: say which task goes where, get the figure and arrays.

    python tools/predict.py --model=runs/demo --palette=r1r:3 --out=predictions photo.jpg …
    python tools/predict.py --model=exported/ctn --palette=s:normals --out=out *.png
    python tools/predict.py --model=runs/demo --palette=r2 --label=labels/ --out=out a.jpg b.jpg
    python tools/predict.py --model=runs/demo --palette=s:semseg --edits=edits.json --out=out a.jpg
    python tools/predict.py --model=runs/r2_ctn --palette=predicted --palette_model=runs/palette_r2 a.jpg
    python tools/predict.py --model=exported/ctn --palette=predicted a.jpg   # exported with --palette_model

--model: a training run folder (model.json + checkpoints/), a SavedModel export (base or
version folder) or a .tflite file. --palette: see `ct_keras.palettes.specs` (below).
Images of any size and mode are resized to the model's size; every output comes back
at the image's own size. Writes OUT/<stem>.png (image | palette | prediction, with a
legend; with --edits the before/after figure) and OUT/<stem>.npz (palette and one array
per task asked for). An image that cannot be read is reported and the others are done;
the exit status is then 1.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model", None, "Training run folder, SavedModel export folder or .tflite file.")
flags.DEFINE_string("palette", "s:semseg", "Which task where: s:<task>, r1r[:seed], rrnd[:seed], "
                    "r2, r3 (with --label), quadrants[:T1,T2,T3,T4], halves[:T1,T2], a palette "
                    ".png/.npy, an edit file .json, or predicted.")
flags.DEFINE_string("edits", None, "Edit file (.json) painted over --palette: writes the "
                    "before/after figure (paper Fig. 9).")
flags.DEFINE_string("label", None, "Semseg label for --palette=r2/r3: a file (one image) or a "
                    "folder of <image stem>.png.")
flags.DEFINE_string("palette_model", None, "For --palette=predicted: a palette network's training "
                    "run (tools/train.py --model=palette, paper §6.2); not needed with an export that "
                    "holds one (tools/export.py --palette_model).")
flags.DEFINE_string("out", "predictions", "Output folder.")
flags.DEFINE_string("checkpoint", "best", "Checkpoint of a training run: best or last.")
flags.DEFINE_integer("batch_size", 4, "Images per network call.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.mark_flags_as_required(["model"])
FLAGS = flags.FLAGS


def main(argv):
    paths = argv[1:]
    if not paths:
        raise app.UsageError("Give one or more image files after the flags")
    if FLAGS.batch_size < 1:
        raise app.UsageError(f"--batch_size must be at least 1. Received {FLAGS.batch_size}")
    from ct_keras.inference import load_predictor, predict_files
    from ct_keras.inference.predict_files import check_request
    from ct_keras.palettes import PaletteSpec

    spec = PaletteSpec(FLAGS.palette, edits=FLAGS.edits)  # checked before the model loads
    if FLAGS.palette_model is not None and not spec.needs_palette_model:
        raise ValueError(f"--palette_model is for --palette=predicted. Received --palette={FLAGS.palette}")
    palette_model = None
    if FLAGS.palette_model is not None:
        from ct_keras.inference.palette_model import PalettePredictor

        palette_model = PalettePredictor(FLAGS.palette_model)
    if spec.needs_palette_model and palette_model is None:
        # An export made with --palette_model holds its palette network.
        predictor = load_predictor(FLAGS.model, FLAGS.checkpoint)
        palette_model = predictor.palette_model
        check_request(paths, spec, FLAGS.label, palette_model)
    else:
        check_request(paths, spec, FLAGS.label, palette_model)  # before the model loads
        predictor = load_predictor(FLAGS.model, FLAGS.checkpoint)
    failures = predict_files(predictor, paths, spec, FLAGS.out, batch_size=FLAGS.batch_size,
                             label=FLAGS.label, palette_model=palette_model, progress=FLAGS.progress)
    done = len(paths) - len(failures)
    print(f"Wrote {done} of {len(paths)} images to {FLAGS.out} (<stem>.png figure, <stem>.npz arrays)")
    if failures:
        for path, message in failures:
            print(f"error: {path}: {message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run(main)

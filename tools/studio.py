"""The palette studio: paint a Task Palette over your image in the browser, see the prediction.

    python tools/studio.py --model=runs/demo
    python tools/studio.py --model=exported/ctn_model --palette_model=runs/palette_r2 --port=8800

Open the printed URL. --model: a training run folder (a CTN runs on the exact fast path),
a SavedModel export or a .tflite file; loaded once. --palette_model adds the starting
palette 'predicted' (paper §6.2). Listens on 127.0.0.1 unless --host says otherwise.
Needs the [studio] extra (pip install -e '.[studio]').
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model", None, "Training run folder, SavedModel export folder or .tflite file.")
flags.DEFINE_string("palette_model", None, "A palette network's training run (tools/train.py "
                    "--model=palette): offers the starting palette 'predicted' (an export made with "
                    "tools/export.py --palette_model offers it without this flag).")
flags.DEFINE_string("checkpoint", "best", "Checkpoint of a training run: best or last.")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0 exposes the studio to the network).")
flags.DEFINE_integer("port", 8765, "Port to listen on.")
flags.mark_flags_as_required(["model"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not 0 < FLAGS.port < 65536:
        raise app.UsageError(f"--port must be in 1..65535. Received {FLAGS.port}")
    try:
        import uvicorn

        from ct_keras.studio.server import create_app
    except ImportError as e:
        raise ImportError(f"The studio needs Starlette and uvicorn: pip install -e '.[studio]' ({e})")
    from ct_keras.inference import load_predictor
    from ct_keras.studio import Studio

    palette_model = None
    if FLAGS.palette_model is not None:
        from ct_keras.inference.palette_model import PalettePredictor

        palette_model = PalettePredictor(FLAGS.palette_model, FLAGS.checkpoint)
    predictor = load_predictor(FLAGS.model, FLAGS.checkpoint)
    if palette_model is None:  # an export made with --palette_model holds its palette network
        palette_model = predictor.palette_model
    studio = Studio(predictor, palette_model)
    host = f"[{FLAGS.host}]" if ":" in FLAGS.host else FLAGS.host
    print(f"Palette studio for {FLAGS.model}: http://{host}:{FLAGS.port}/  (Ctrl-C stops it)",
          flush=True)
    uvicorn.run(create_app(studio), host=FLAGS.host, port=FLAGS.port, log_level="warning")


if __name__ == "__main__":
    run(main)

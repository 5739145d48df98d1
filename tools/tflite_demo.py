"""The on-device demo: a `.tflite` export on one picture, with LiteRT alone (no TensorFlow).

    python tools/tflite_demo.py --model=exported/ctn/tflite/1/model_int8.tflite \
        --image=photo.jpg --palette=quadrants [--out=exported/tflite_demo.png]

--palette: a task name or id (semseg, parts, edges, saliency, normals) for the whole
image; quadrants[:T1,T2,T3,T4]; halves[:T1,T2]; a .png / .npy file of task ids; or
predicted: the palette network exported with the model (tools/export.py --palette_model,
its palette_fp32.tflite beside the model) says which task goes where.
Writes image | Task Palette | composite prediction side by side. TFLite has no asserts,
so the image size and the palette ids are checked here before the model runs. Class
maps are drawn in the export's anchor colours (its ct_keras_export.json, next to the
.tflite file; the paper's when that file is absent).
"""

import os
import time

from _cli import run  # first: it says how to install the package if it is missing
from absl import app, flags

flags.DEFINE_string("model", None, "A .tflite file written by tools/export.py --tflite=….")
flags.DEFINE_string("image", None, "The picture (any format PIL reads), of the model's size.")
flags.DEFINE_string("palette", "quadrants", "Task Palette: a task, quadrants[:T1,T2,T3,T4], "
                    "halves[:T1,T2], a .png/.npy of task ids, or predicted (the exported palette network).")
flags.DEFINE_string("out", "exported/tflite_demo.png", "Where the picture goes.")
flags.DEFINE_bool("resize", False, "Resize --image to the model's size instead of refusing it.")
flags.DEFINE_integer("threads", 2, "CPU threads of the interpreter.")
flags.DEFINE_integer("repeat", 1, "Runs to time (the median is printed).")
flags.mark_flags_as_required(["model", "image"])
FLAGS = flags.FLAGS


def _interpreter(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--model file {path} does not exist")
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=path, num_threads=FLAGS.threads)
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"--model {path} is not a TFLite model: {e}") from None
    if "serving_default" not in interpreter.get_signature_list():
        raise ValueError(f"--model {path} has no serving_default signature: not a tools/export.py file")
    return interpreter


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if FLAGS.repeat < 1:
        raise app.UsageError(f"--repeat must be at least 1. Received {FLAGS.repeat}")
    import numpy as np

    from ct_keras.deploy import user_inputs
    from ct_keras.deploy.pictures import demo_strip, save_png
    from ct_keras.tasks import NUM_TASKS, TASK_NAMES

    runner = _interpreter(FLAGS.model).get_signature_runner("serving_default")
    inputs = runner.get_input_details()
    if set(inputs) != {"image", "palette"}:
        raise ValueError(f"--model {FLAGS.model} takes {sorted(inputs)}, not an image and a palette")
    image_hw = tuple(int(s) for s in inputs["image"]["shape"][1:3])

    image = user_inputs.load_image(FLAGS.image)
    if FLAGS.resize:
        image = user_inputs.resize_image(image, image_hw)
    user_inputs.check_image(image, image_hw, name=f"--image {FLAGS.image}")
    if FLAGS.palette == "predicted":
        from ct_keras.deploy.tflite_palette import exported_palette_file, palette_runner

        palette_file = exported_palette_file(FLAGS.model)
        if palette_file is None:
            raise ValueError(f"--palette=predicted: {FLAGS.model} was exported without a palette network "
                             "(tools/export.py --palette_model=RUN)")
        palette = palette_runner(palette_file, FLAGS.threads)(image[None].astype(np.float32))[0]
    else:
        palette = user_inputs.parse_palette(FLAGS.palette, image_hw)
    user_inputs.check_palette(palette, image_hw)

    times = []
    for _ in range(FLAGS.repeat):
        start = time.perf_counter()
        outputs = runner(image=image[None].astype(np.float32), palette=palette[None].astype(np.int32))
        times.append(time.perf_counter() - start)
    outputs = {k: v[0] for k, v in outputs.items()}
    info = user_inputs.read_tflite_info(FLAGS.model)
    anchors = info.get("anchors") if info else None
    out = save_png(demo_strip(image, palette, outputs, anchors), FLAGS.out)
    counts = np.bincount(palette.ravel(), minlength=NUM_TASKS)
    tasks = ", ".join(f"{name} {c / counts.sum():.0%}" for name, c in zip(TASK_NAMES, counts) if c)
    print(f"{os.path.basename(FLAGS.model)} ({image_hw[0]}x{image_hw[1]}): {tasks}; "
          f"{np.median(times) * 1e3:.0f} ms per image; wrote {out}"
          + ("" if info else f" (no {user_inputs.TFLITE_INFO} beside it: the paper's class colours)"))


if __name__ == "__main__":
    run(main, tensorflow=False)

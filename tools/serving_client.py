"""Asks a TF Serving server running a tools/export.py model for a composite prediction.

    docker run -p 8501:8501 -p 8500:8500 \
        -v "$PWD/exported/ctn:/models/ctn" -e MODEL_NAME=ctn tensorflow/serving
    python tools/serving_client.py --image=photo.jpg --palette=quadrants
    python tools/serving_client.py --image=photo.jpg --signature=encoded_image --format=inputs
    python tools/serving_client.py --image=photo.jpg --signature=single_task --task=normals
    python tools/serving_client.py --image=photo.jpg --signature=predicted_palette   # export --palette_model
    python tools/serving_client.py --image=photo.jpg --grpc=localhost:8500   # pip install tensorflow-serving-api
    python tools/serving_client.py --image=photo.jpg --dry_run > request.json

REST (`:predict`, row `instances` or columnar `inputs`, images as JSON numbers or
`{"b64": …}` PNG bytes) or gRPC. The image and the palette are checked before anything
is sent; the picture of the answer goes to --out.
"""

import json
import os

from _cli import run  # first: it says how to install the package if it is missing
from absl import app, flags

flags.DEFINE_string("image", None, "The picture (any format PIL reads).")
flags.DEFINE_string("palette", "quadrants", "Task Palette: a task, quadrants[:T1,T2,T3,T4], "
                    "halves[:T1,T2] or a .png/.npy of task ids (serving_default, encoded_image).")
flags.DEFINE_string("task", "semseg", "The task of --signature=single_task (name or id).")
flags.DEFINE_enum("signature", "serving_default",
                  ["serving_default", "encoded_image", "single_task", "predicted_palette"],
                  "Which signature to call (predicted_palette: the export's palette network says "
                  "which task goes where; the image alone is sent).")
flags.DEFINE_enum("format", "instances", ["instances", "inputs"], "REST body: row or columnar.")
flags.DEFINE_string("server", "localhost:8501", "TF Serving's REST address.")
flags.DEFINE_string("grpc", None, "TF Serving's gRPC address (e.g. localhost:8500): use gRPC, not REST.")
flags.DEFINE_string("model_name", "ctn", "The served model's name (MODEL_NAME of the container).")
flags.DEFINE_integer("version", None, "A model version; default the latest the server has.")
flags.DEFINE_integer("image_size", 256, "The size the model was exported at (to check the image).")
flags.DEFINE_string("export_dir", None, "Read the image size from this export's version folder instead.")
flags.DEFINE_bool("resize", False, "Resize --image to the model's size instead of refusing it.")
flags.DEFINE_bool("dry_run", False, "Print the REST request body (JSON) instead of sending it.")
flags.DEFINE_string("out", "exported/serving_client.png", "Where the picture of the answer goes.")
flags.mark_flags_as_required(["image"])
FLAGS = flags.FLAGS


def _image_hw():
    if FLAGS.export_dir:
        from ct_keras.deploy.user_inputs import read_export_info

        return tuple(read_export_info(FLAGS.export_dir)["image_size"])
    if FLAGS.image_size <= 0 or FLAGS.image_size % 32:
        raise app.UsageError(f"--image_size must be a positive multiple of 32. Received {FLAGS.image_size}")
    return FLAGS.image_size, FLAGS.image_size


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import numpy as np

    from ct_keras.deploy import serving_requests, user_inputs
    from ct_keras.deploy.pictures import demo_strip, save_png

    image_hw = _image_hw()
    image = user_inputs.load_image(FLAGS.image)
    if FLAGS.resize:
        image = user_inputs.resize_image(image, image_hw)
    user_inputs.check_image(image, image_hw, name=f"--image {FLAGS.image}")
    if FLAGS.signature == "single_task":
        task = user_inputs.task_id(FLAGS.task)
        palette = np.full(image_hw, task, np.int32)
    elif FLAGS.signature == "predicted_palette":
        task, palette = None, None  # the server predicts it
    else:
        task = None
        palette = user_inputs.check_palette(user_inputs.parse_palette(FLAGS.palette, image_hw), image_hw)
    images, tasks = image[None], None if task is None else [task]
    palettes = None if palette is None else palette[None]

    if FLAGS.grpc:
        request = serving_requests.grpc_request(FLAGS.signature, FLAGS.model_name, images, palettes,
                                                tasks, FLAGS.version)
        if FLAGS.dry_run:
            print(request)
            return
        outputs = serving_requests.grpc_predict(FLAGS.grpc, request)
    else:
        body = serving_requests.rest_body(FLAGS.signature, images, palettes, tasks, FLAGS.format)
        if FLAGS.dry_run:
            print(json.dumps(body))
            return
        url = serving_requests.rest_url(FLAGS.server, FLAGS.model_name, FLAGS.version)
        outputs = serving_requests.post_rest(url, body)
    missing = [k for k in ("semseg", "parts", "edges", "saliency", "normals") if k not in outputs]
    if missing:
        raise ValueError(f"The server's answer lacks outputs {missing}: is it a tools/export.py model?")
    outputs = {k: np.asarray(v)[0] for k, v in outputs.items()}
    if palette is None:
        if "palette" not in outputs:
            raise ValueError("The server's answer has no palette: was the model exported with --palette_model?")
        palette = outputs.pop("palette").astype(np.int32)
    anchors = None  # the paper's colours, unless --export_dir tells the export's anchors
    if FLAGS.export_dir:
        anchors = user_inputs.read_export_info(FLAGS.export_dir).get("anchors")
    out = save_png(demo_strip(image, palette, outputs, anchors), FLAGS.out)
    print(f"{FLAGS.signature} answered {sorted(outputs)}; wrote {out}")


if __name__ == "__main__":
    run(main, tensorflow=False)

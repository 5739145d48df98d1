"""Imports a PyTorch checkpoint into a ct_keras model and writes a `.weights.h5` file.

    python tools/import_torch_checkpoint.py --checkpoint=resnet34-b627a593.pth \
        --model=ctn --backbone=resnet34 --out=ctn_imagenet.weights.h5
    python tools/import_torch_checkpoint.py --checkpoint=epoch=99.ckpt --trust_checkpoint \
        --model=ctn --backbone=resnet34 --out=ctn_r1r.weights.h5

An ImageNet ResNet (torchvision or timm, .pth or .safetensors) fills the encoder; a
checkpoint of the authors' code (CTN, STN, MHN or MN; a plain or DataParallel-wrapped
state_dict, or the Lightning .ckpt their training writes) fills the whole model. A
Lightning .ckpt is read with torch.load(weights_only=True) (its callback classes pass as
inert placeholders); --trust_checkpoint is only needed for files that pickle other objects.
The result loads with `model.load_weights(out)` into a model built with the same flags.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("checkpoint", None, "PyTorch checkpoint: .pth, .pt, .ckpt or .safetensors.")
flags.DEFINE_enum("model", "ctn", ["ctn", "stn", "mhn", "mn"], "Which model the weights are for.")
flags.DEFINE_enum("backbone", "resnet34", ["resnet18", "resnet34", "resnet50", "resnet101"],
                  "Encoder depth.")
flags.DEFINE_string("task", None, "STN only: the task the network predicts; by default the one "
                    "whose code the checkpoint holds (their Lightning .ckpt does).")
flags.DEFINE_integer("image_size", 256, "Input size the model is built at (weights do not depend on it).")
flags.DEFINE_string("out", None, "Output file; must end in .weights.h5.")
flags.DEFINE_bool("trust_checkpoint", False,
                  "Unpickle Python objects beyond tensors and Lightning's bookkeeping (torch.load "
                  "weights_only=False). Only for files you trust.")
flags.mark_flags_as_required(["checkpoint", "out"])
FLAGS = flags.FLAGS


def _stn_task(tasks):
    from ct_keras.models.torch_import import REFERENCE_TASK_NAMES

    if len(tasks) != 1:
        raise ValueError("--task is needed: the checkpoint does not say which task the STN "
                             f"predicts (it holds task codes for {tasks or 'no task'})")
    ours = {theirs: name for name, theirs in REFERENCE_TASK_NAMES.items()}
    return ours.get(tasks[0], tasks[0])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.out.endswith(".weights.h5"):
        raise app.UsageError(f"--out must end in .weights.h5. Received {FLAGS.out!r}")
    from ct_keras.models import MODELS
    from ct_keras.models.torch_import import checkpoint_tasks, load_torch_state_dict, read_state_dict

    if FLAGS.task is not None and FLAGS.model != "stn":
        raise app.UsageError(f"--task is for --model=stn only. Received --model={FLAGS.model}")
    state = read_state_dict(FLAGS.checkpoint, trust_checkpoint=FLAGS.trust_checkpoint)
    kwargs = {}
    if FLAGS.model == "stn":
        kwargs["task"] = FLAGS.task if FLAGS.task is not None else _stn_task(checkpoint_tasks(state))
    model = MODELS[FLAGS.model](backbone=FLAGS.backbone, image_size=FLAGS.image_size, **kwargs)
    count = load_torch_state_dict(model, state)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    tmp = FLAGS.out[: -len(".weights.h5")] + ".tmp.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, FLAGS.out)  # never leave a half-written weights file behind
    print(f"Loaded {count} tensors from {FLAGS.checkpoint}; wrote {FLAGS.out}")


if __name__ == "__main__":
    run(main)

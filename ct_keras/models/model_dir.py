"""A training run's folder: how a model is described and found again.

    <model_dir>/model.json                 {"model": "ctn", "config": {...}}
    <model_dir>/flags.txt                  the effective flags (an absl flagfile)
    <model_dir>/checkpoints/best.weights.h5, last.weights.h5
    <model_dir>/backup/                    keras BackupAndRestore (resume mid-epoch)
    <model_dir>/logs/                      TensorBoard
    <model_dir>/metrics.json               validation metrics at the end

Weights files hold the bare network's weights (not the optimizer's), so they load
into a float32 twin of a model trained in mixed precision.
"""

import json
import os

import keras

from ct_keras.atomic_files import write_json_atomically
from ct_keras.models.composite_tasking_net import CompositeTaskingNet
from ct_keras.models.multi_head_net import MultiHeadNet
from ct_keras.models.multi_net import MultiNet
from ct_keras.models.palette_net import PaletteNet
from ct_keras.models.single_task_net import SingleTaskNet

MODELS = {
    "ctn": CompositeTaskingNet,
    "stn": SingleTaskNet,
    "mhn": MultiHeadNet,
    "mn": MultiNet,
    "palette": PaletteNet,
}
CHECKPOINTS = ("best", "last")


def model_kind(model):
    """The `MODELS` key of a model instance."""
    for kind, cls in MODELS.items():
        if type(model) is cls:
            return kind
    raise ValueError(f"Not one of the ct_keras models {sorted(MODELS)}: {type(model).__name__}")


def build_model(kind, **config):
    """`MODELS[kind](**config)` with a clear error for an unknown kind."""
    if kind not in MODELS:
        raise ValueError(f"`model` must be one of {sorted(MODELS)}. Received {kind!r}")
    return MODELS[kind](**config)


def checkpoint_path(model_dir, checkpoint="best"):
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"`checkpoint` must be one of {CHECKPOINTS}. Received {checkpoint!r}")
    return os.path.join(model_dir, "checkpoints", f"{checkpoint}.weights.h5")


def read_flag(model_dir, name):
    """The value of `--name` in `<model_dir>/flags.txt` (the flags the run was trained with)."""
    path = os.path.join(model_dir, "flags.txt")
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                if line.startswith(f"--{name}="):
                    return line.strip().split("=", 1)[1]
    raise ValueError(f"{path} does not give --{name}: pass it on the command line")


def save_model_description(model, model_dir):
    """Writes `<model_dir>/model.json` (atomically)."""
    config = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable")}
    write_json_atomically(os.path.join(model_dir, "model.json"),
                          {"model": model_kind(model), "config": config})


def read_model_description(model_dir):
    path = os.path.join(model_dir, "model.json")
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"`model_dir` {model_dir} does not exist")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} not found: `model_dir` must be a folder written by tools/train.py"
        )
    try:
        with open(path) as f:
            description = json.load(f)
        return description["model"], dict(description["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a model description ({e})") from None


def load_model_dir(model_dir, checkpoint="best", dtype="float32"):
    """Rebuilds the model of a training run and loads one of its checkpoints.

    Args:
        model_dir: a folder written by `tools/train.py`.
        checkpoint: `"best"` or `"last"`.
        dtype: dtype policy to build it under; float32 by default (export, evaluation).
    """
    kind, config = read_model_description(model_dir)
    weights = checkpoint_path(model_dir, checkpoint)
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"{weights} not found: no {checkpoint!r} checkpoint in {model_dir}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        model = build_model(kind, **config)
    finally:
        keras.config.set_dtype_policy(previous)
    model.load_weights(weights)
    return model

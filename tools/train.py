"""Trains a CompositeTasking model (or a baseline) on PASCAL-MT.

    python tools/train.py --flagfile=configs/r2.cfg [--flag=value ...]

Later flags override earlier ones (so flags after --flagfile override the file). Writes
into --model_dir: flags.txt (the effective flags), model.json, checkpoints/{best,last}
.weights.h5, logs/ (TensorBoard: losses, metrics, a composite picture per epoch),
backup/ (resume: rerun the same command after a crash), metrics.json at the end.

Every flag but --cpu_devices is a field of `ct_keras.training.config.TrainConfig`, which
holds its default and its help text.
"""

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

from ct_keras.training.config import TrainConfig  # noqa: E402  (imports no TensorFlow)

# Flags of lists: key=value pairs (the dict fields) or numbers, parsed by `config_from_flags`.
_LISTS = ("model_options", "loss_weights", "milestones")
_DEFINE = {str: flags.DEFINE_string, object: flags.DEFINE_string, int: flags.DEFINE_integer,
           float: flags.DEFINE_float, bool: flags.DEFINE_bool}

for _field in dataclasses.fields(TrainConfig):
    _default = _field.default if _field.default_factory is dataclasses.MISSING else _field.default_factory()
    if _field.name in _LISTS:
        _items = [f"{k}={v}" for k, v in _default.items()] if isinstance(_default, dict) else _default
        flags.DEFINE_list(_field.name, [str(item) for item in _items], _field.metadata["help"])
    else:
        _DEFINE[_field.type](_field.name, _default, _field.metadata["help"])
flags.DEFINE_integer("cpu_devices", 1, "Split the CPU into this many logical devices (to try mirrored "
                     "without GPUs).")
flags.mark_flags_as_required(["model_dir", "data_dir"])
FLAGS = flags.FLAGS


def _key_values(flag, items, convert):
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--{flag}: expected key=value, not {item!r}")
        try:
            out[key.strip()] = convert(value.strip())
        except ValueError:
            raise ValueError(f"--{flag}: bad value in {item!r}") from None
    return out


def _option_value(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def config_from_flags():
    values = {}
    for field in TrainConfig.__dataclass_fields__:
        values[field] = FLAGS[field].value
    values["model_options"] = _key_values("model_options", FLAGS.model_options, _option_value)
    values["loss_weights"] = _key_values("loss_weights", FLAGS.loss_weights, float)
    try:
        values["milestones"] = tuple(int(m) for m in FLAGS.milestones)
    except ValueError:
        raise ValueError(f"--milestones: expected epochs, not {FLAGS.milestones}") from None
    return TrainConfig(**values)


def flag_lines():
    lines = []
    for name in list(TrainConfig.__dataclass_fields__) + ["cpu_devices"]:
        flag = FLAGS[name]
        value = ",".join(flag.value) if isinstance(flag.value, list) else flag.value
        lines.append(f"--{name}={str(value).lower() if isinstance(value, bool) else value}")
    return lines


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from ct_keras.training.chief import is_chief
    from ct_keras.training.distribution import split_cpu
    from ct_keras.training.run import train, write_flags

    config = config_from_flags()
    config.check()  # every bad flag fails here, before any work
    split_cpu(FLAGS.cpu_devices)
    if is_chief(config.distribution_strategy):
        write_flags(config.model_dir, flag_lines())
    metrics = train(config)
    if metrics is None:
        print("Done (a worker: the chief writes --model_dir and evaluates)")
        return
    from ct_keras.training.evaluation import summary
    from ct_keras.training.palette_training import palette_summary

    print(palette_summary(metrics) if config.model == "palette" else summary(metrics))
    print(f"Wrote {os.path.join(config.model_dir, 'metrics.json')}")


if __name__ == "__main__":
    run(main)

"""Trains a CompositeTasking model (or a baseline) on PASCAL-MT.

    python tools/train.py --flagfile=configs/r2.cfg [--flag=value ...]

Later flags override earlier ones (so flags after --flagfile override the file). Writes
into --model_dir: flags.txt (the effective flags), model.json, checkpoints/{best,last}
.weights.h5, logs/ (TensorBoard: losses, metrics, a composite picture per epoch),
backup/ (resume: rerun the same command after a crash), metrics.json at the end.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

f = flags
f.DEFINE_string("model_dir", None, "Where checkpoints, logs and metrics go (resumes if it has a backup).")
f.DEFINE_string("data_dir", None, "PASCAL-MT: a raw folder (either packaging) or ct_keras TFRecords.")
f.DEFINE_string("synthetic", "", "'TRAIN,VAL': generate a synthetic PASCAL-MT of that many images "
                "at --data_dir if it does not exist.")
f.DEFINE_string("synthetic_variant", "voc", "What --synthetic scenes hold: voc (all 20 classes) or easy "
                "(5 classes, larger objects: the demo's).")
f.DEFINE_enum("model", "ctn", ["ctn", "stn", "mhn", "mn", "palette"], "CompositeTasking net, a "
              "baseline, or the palette network (image → Task Palette of --rule=r2/r3, paper §6.2).")
f.DEFINE_string("task", "", "Task of --model=stn, or the one task of --rule=s (default: drawn per image).")
f.DEFINE_string("backbone", "resnet34", "resnet18|34|50|101.")
f.DEFINE_integer("image_size", 256, "Training/evaluation size (a multiple of 32).")
f.DEFINE_list("model_options", [], "Ablation knobs as key=value, e.g. embedding_dim=64,mlp_depth=3.")
f.DEFINE_string("anchors", "paper", "Class anchors: paper (supplementary Tables 5, 6); a JSON file "
                "{\"semseg\": {class: [r, g, b]}, \"parts\": {...}}; or the reference's colour maps "
                "colourmap_seg21.txt,colourmap_parts7.txt. Recorded in model.json.")
f.DEFINE_string("rule", "", "Task Palette rule of the training labels: s|r1r|rrnd|r2|r3 "
                "(default s for --model=stn, r1r for the others; an STN learns its task's region).")
f.DEFINE_integer("batch_size", 10, "Global batch size, split evenly over the replicas (GPUs, workers).")
f.DEFINE_integer("epochs", 100, "Epochs.")
f.DEFINE_integer("steps_per_epoch", 0, "Steps per epoch; 0 = one pass over the training split.")
f.DEFINE_integer("validation_steps", 0, "Validation batches; 0 = the whole split.")
f.DEFINE_bool("augment", True, "Training augmentation (flip, scale, crop, photometric).")
f.DEFINE_integer("seed", 0, "Seed of data order, augmentation and palettes.")
f.DEFINE_float("decoder_lr", 1e-3, "Learning rate of the decoder and the task MLP.")
f.DEFINE_float("encoder_lr", 1e-5, "Learning rate of the encoder.")
f.DEFINE_float("weight_decay", 1e-5, "Coupled L2 (as torch.optim.Adam's weight_decay).")
f.DEFINE_string("schedule", "multistep", "multistep|plateau|constant|cosine (warm-up, then cosine to 0).")
f.DEFINE_integer("warmup_steps", 0, "Linear warm-up steps of --schedule=cosine.")
f.DEFINE_list("milestones", ["60", "80", "94"], "Epochs where multistep multiplies the rate by --lr_factor.")
f.DEFINE_float("lr_factor", 0.3, "Learning-rate factor of both schedules.")
f.DEFINE_integer("plateau_patience", 12, "Epochs without val_loss improvement before --schedule=plateau acts.")
f.DEFINE_list("loss_weights", [], "Overrides of the paper's task weights, e.g. edges=50,normals=4.")
f.DEFINE_float("focal_gamma", 2.0, "γ of the semseg/parts focal loss.")
f.DEFINE_string("normals_loss", "cosine", "cosine|l1.")
f.DEFINE_string("precision", "float32", "float32|mixed_float16|mixed_bfloat16|auto (mixed_bfloat16 on a "
                "CPU with native bfloat16, AVX512_BF16 or AMX; float32 elsewhere).")
f.DEFINE_bool("jit_compile", False, "XLA for the train step (faster on GPUs, slower on CPUs).")
f.DEFINE_bool("deterministic", False, "Deterministic TF ops: the same flags give the same weights, bit "
              "for bit, resumed or not (slower on GPUs; not with --jit_compile).")
f.DEFINE_string("distribution_strategy", "one_device", "one_device|mirrored (all local GPUs)|"
                "multi_worker_mirrored (processes named by TF_CONFIG; the chief writes --model_dir)|tpu.")
f.DEFINE_string("tpu", "", "TPU address for --distribution_strategy=tpu.")
f.DEFINE_integer("cpu_devices", 1, "Split the CPU into this many logical devices (to try mirrored without GPUs).")
f.DEFINE_string("init_weights", "", "Start from these weights: a .weights.h5 or a model_dir (its best).")
f.DEFINE_string("encoder_weights", "", "ImageNet ResNet weights for the encoder (.pth or .safetensors).")
f.DEFINE_string("shared_encoder", "", "A trained run whose encoder this net takes, frozen (e.g. the palette "
                "net on the CTN's encoder, so that both can share one encoder pass).")
f.DEFINE_integer("backup_every", 50, "Training steps between backups (0 = at epoch ends only).")
f.DEFINE_string("final_rule", "s", "Rule of the evaluation at the end (s = the paper's Table 1).")
f.DEFINE_integer("edge_thresholds", 99, "Thresholds of the edges odsF.")
f.DEFINE_bool("validation_metrics", False, "Each task's metric at every validation (TensorBoard, "
              "history.csv: the learning curve tools/demo.py draws); costs a little per epoch.")
f.DEFINE_bool("log_pictures", True, "A composite-prediction picture in TensorBoard each epoch.")
f.DEFINE_bool("skip_bad_samples", False, "Skip samples whose files cannot be read or decoded (counted "
              "warnings, listed in <model_dir>/skipped_samples.log) instead of stopping the run.")
f.DEFINE_bool("overwrite", False, "Train again from scratch in a --model_dir that holds a finished run.")
f.DEFINE_integer("verbose", 1, "0 silent, 1 progress bar, 2 one line per epoch.")
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
    from ct_keras.training.run import TrainConfig

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
    from ct_keras.training.run import TrainConfig

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

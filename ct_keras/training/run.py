"""One training run, start to finish: what `tools/train.py` does with its flags."""

import dataclasses
import json
import math
import os
import shutil

import keras

from ct_keras.cpu import native_bfloat16
from ct_keras.data import RULES, detect_layout, generate_pascal_mt, make_dataset, num_examples
from ct_keras.data.errors import skipped_samples_log
from ct_keras.data.synthetic import VARIANTS, read_description
from ct_keras.losses import CompositeLoss
from ct_keras.losses.composite_loss import LOSS_WEIGHTS, NORMALS_LOSSES
from ct_keras.metrics import task_metrics
from ct_keras.models import build_model, load_model_dir, save_model_description
from ct_keras.atomic_files import write_atomically
from ct_keras.models.model_dir import MODELS, checkpoint_path
from ct_keras.models.palette_net import PALETTE_RULES
from ct_keras.tasks import TASK_NAMES, read_anchors
from ct_keras.training import chief
from ct_keras.training.callbacks import (
    NetCheckpoint, ResumableBackup, ResumablePlateau, StopOnNonFiniteLoss,
)
from ct_keras.training.initial_weights import initialise
from ct_keras.training.distribution import STRATEGIES, make_strategy, shard_by_example, synchronize_batch_norm
from ct_keras.training.optimizer import MultiRateAdam
from ct_keras.training.palette_training import evaluate_palette_net, palette_targets
from ct_keras.training.pictures import CompositePictures
from ct_keras.training.schedules import SCHEDULES, learning_rate
from ct_keras.training.trainer import CompositeTaskingTrainer

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")


def resolve_precision(precision, cpu_flags=None):
    """`auto`: mixed_bfloat16 where the CPU computes bfloat16 natively (`ct_keras.cpu.
    native_bfloat16`), where it trains 1.4× faster; float32 elsewhere (bfloat16 is emulated,
    slower, on AVX2 boxes) and wherever a GPU is visible (choose mixed_float16 there
    yourself). `cpu_flags`: the CPU's flags (default: this machine's)."""
    if precision != "auto":
        return precision
    if cpu_flags is None:
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return "float32"
    return "mixed_bfloat16" if native_bfloat16(cpu_flags) else "float32"


@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs; `tools/train.py` fills it from flags (same names)."""

    model_dir: str
    data_dir: str
    model: str = "ctn"
    task: str = ""                 # STN's task, or the one task of rule s ("" = drawn per image)
    backbone: str = "resnet34"
    image_size: int = 256
    model_options: dict = dataclasses.field(default_factory=dict)
    anchors: object = "paper"      # "paper", anchor/colour-map file(s) or a dict (`tasks.read_anchors`)
    rule: str = ""                 # "" = s for an STN, r1r for the others
    batch_size: int = 10
    epochs: int = 100
    steps_per_epoch: int = 0       # 0 = one pass over the training split
    validation_steps: int = 0      # 0 = the whole validation split
    augment: bool = True
    seed: int = 0
    decoder_lr: float = 1e-3
    encoder_lr: float = 1e-5
    weight_decay: float = 1e-5
    schedule: str = "multistep"
    warmup_steps: int = 0          # --schedule=cosine: linear warm-up steps
    milestones: tuple = (60, 80, 94)
    lr_factor: float = 0.3
    plateau_patience: int = 12
    loss_weights: dict = dataclasses.field(default_factory=dict)
    focal_gamma: float = 2.0
    normals_loss: str = "cosine"
    precision: str = "float32"
    jit_compile: bool = False
    deterministic: bool = False    # deterministic TF ops (bitwise-repeatable runs, slower)
    distribution_strategy: str = "one_device"
    tpu: str = ""
    init_weights: str = ""         # .weights.h5 or a model_dir (its best checkpoint)
    encoder_weights: str = ""      # ImageNet ResNet (.pth / .safetensors) for the encoder
    shared_encoder: str = ""       # a trained run whose encoder this net takes, frozen
    backup_every: int = 50         # steps between mid-epoch backups
    synthetic: str = ""            # "TRAIN,VAL": generate a synthetic set at data_dir if absent
    synthetic_variant: str = "voc"  # its scenes (`ct_keras.data.synthetic.VARIANTS`)
    final_rule: str = "s"          # rule of the final evaluation
    edge_thresholds: int = 99
    log_pictures: bool = True
    validation_metrics: bool = False  # each task's metric at every validation (history.csv)
    overwrite: bool = False        # start afresh in a model_dir that holds a finished run
    skip_bad_samples: bool = False  # skip unreadable samples (listed in skipped_samples.log)
    verbose: int = 1

    @property
    def training_rule(self):
        """The palette rule of the training split: `rule`, or the model's usual one."""
        return self.rule or {"stn": "s", "palette": "r2"}.get(self.model, "r1r")

    def check(self):
        """Every bad value is a `ValueError` naming its flag, before any work is done."""
        def bad(flag, message):
            raise ValueError(f"--{flag}: {message}")

        if not self.model_dir:
            bad("model_dir", "required")
        if self.model not in MODELS:
            bad("model", f"must be one of {sorted(MODELS)}, not {self.model!r}")
        if self.task and self.task not in TASK_NAMES:
            bad("task", f"must be one of {TASK_NAMES}, not {self.task!r}")
        if self.model == "stn" and not self.task:
            bad("task", "the single-task net (--model=stn) needs its task")
        if self.model == "palette" and self.training_rule not in PALETTE_RULES:
            bad("rule", f"the palette network (--model=palette) learns a semantic rule, one of "
                f"{PALETTE_RULES}, not {self.rule!r}")
        for flag in ("rule", "final_rule"):
            if getattr(self, flag) not in RULES and (flag, getattr(self, flag)) != ("rule", ""):
                bad(flag, f"must be one of {RULES}, not {getattr(self, flag)!r}")
        for flag, allowed in (("schedule", SCHEDULES), ("precision", PRECISIONS),
                              ("distribution_strategy", STRATEGIES), ("normals_loss", NORMALS_LOSSES)):
            if getattr(self, flag) not in allowed:
                bad(flag, f"must be one of {allowed}, not {getattr(self, flag)!r}")
        for flag in ("batch_size", "epochs", "image_size", "edge_thresholds"):
            if getattr(self, flag) <= 0:
                bad(flag, f"must be positive, not {getattr(self, flag)}")
        if self.distribution_strategy == "multi_worker_mirrored":
            chief.cluster_task()  # a malformed TF_CONFIG fails here
        if self.image_size % 32:
            bad("image_size", f"must be a multiple of 32, not {self.image_size}")
        for flag in ("steps_per_epoch", "validation_steps", "backup_every", "warmup_steps"):
            if getattr(self, flag) < 0:
                bad(flag, f"must be >= 0, not {getattr(self, flag)}")
        if self.validation_metrics and self.model == "palette":
            bad("validation_metrics", "the palette network is scored by palette mIoU at the end; "
                "the task metrics are for the task networks")
        if self.warmup_steps and self.schedule != "cosine":
            bad("warmup_steps", f"only applies with --schedule=cosine, not {self.schedule!r}")
        if "anchors" in self.model_options:
            bad("model_options", "give the class anchors with --anchors")
        try:
            read_anchors(self.anchors)
        except (ValueError, FileNotFoundError) as e:
            bad("anchors", str(e))
        if self.deterministic and self.jit_compile:
            bad("jit_compile", "cannot be combined with --deterministic (Keras turns XLA off "
                "when op determinism is on)")
        unknown = set(self.loss_weights) - set(LOSS_WEIGHTS)
        if unknown:
            bad("loss_weights", f"unknown tasks {sorted(unknown)}; tasks are {TASK_NAMES}")
        for flag in ("init_weights", "encoder_weights", "shared_encoder"):
            path = getattr(self, flag)
            if path and not os.path.exists(path):
                bad(flag, f"{path} does not exist")
        if self.shared_encoder and not os.path.isfile(checkpoint_path(self.shared_encoder, "best")):
            bad("shared_encoder", f"{self.shared_encoder} is not a finished training run (no "
                f"{checkpoint_path(self.shared_encoder, 'best')})")
        if self.shared_encoder and self.encoder_weights:
            bad("shared_encoder", "takes a trained encoder, frozen: it cannot be combined with --encoder_weights")
        if self.synthetic:
            synthetic_sizes(self.synthetic)
            if self.synthetic_variant not in VARIANTS:
                bad("synthetic_variant", f"must be one of {sorted(VARIANTS)}, not {self.synthetic_variant!r}")
        elif self.synthetic_variant != "voc":
            bad("synthetic_variant", "only applies with --synthetic (it says what to generate)")
        elif not os.path.isdir(self.data_dir):
            bad("data_dir", f"{self.data_dir} does not exist")
        if os.path.isdir(self.data_dir):
            detect_layout(self.data_dir)  # names the folder if it is not PASCAL-MT
            if self.synthetic:
                counts = (num_examples(self.data_dir, "train"), num_examples(self.data_dir, "val"))
                if counts != synthetic_sizes(self.synthetic):
                    bad("synthetic", f"{self.data_dir} holds {counts[0]} train and {counts[1]} val images, "
                        f"not the {self.synthetic} asked for: give another --data_dir or delete that one")
                variant = (read_description(self.data_dir) or {}).get("variant", self.synthetic_variant)
                if variant != self.synthetic_variant:
                    bad("synthetic_variant", f"{self.data_dir} holds the {variant!r} variant, not "
                        f"{self.synthetic_variant!r}: give another --data_dir or delete that one")
        if self.schedule == "cosine" and (self.steps_per_epoch or os.path.isdir(self.data_dir)):
            total = self.epochs * (self.steps_per_epoch or max(1, num_examples(self.data_dir, "train")
                                                               // self.batch_size))
            if self.warmup_steps >= total:
                bad("warmup_steps", f"must be below the run's {total} steps (--epochs × steps per "
                    f"epoch), not {self.warmup_steps}")
        finished = os.path.join(self.model_dir, "metrics.json")
        if os.path.isfile(finished) and not self.overwrite:
            bad("model_dir", f"{self.model_dir} holds a finished run ({finished}); pass --overwrite "
                "to train it again from scratch, or choose another --model_dir")


def clear_finished_run(model_dir):
    """Removes what a finished run left (checkpoints, logs, metrics) before training anew."""
    if not os.path.isfile(os.path.join(model_dir, "metrics.json")):
        return
    for name in ("checkpoints", "logs", "backup"):
        shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)
    if os.path.isfile(os.path.join(model_dir, "history.csv")):
        os.remove(os.path.join(model_dir, "history.csv"))
    os.remove(os.path.join(model_dir, "metrics.json"))


def synthetic_sizes(value):
    try:
        train, val = (int(v) for v in value.split(","))
        if train <= 0 or val <= 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"--synthetic: expected 'TRAIN,VAL' image counts, not {value!r}") from None
    return train, val


def write_flags(model_dir, flag_lines):
    """The effective flags, as a flagfile that reruns this run."""
    write_atomically(os.path.join(model_dir, "flags.txt"), "\n".join(flag_lines) + "\n")


def _net_kwargs(config):
    kwargs = dict(backbone=config.backbone, image_size=config.image_size, **config.model_options)
    if config.model == "palette":  # no class maps: no anchors
        kwargs["rule"] = config.training_rule
        return kwargs
    kwargs["anchors"] = read_anchors(config.anchors)
    if config.model == "stn":
        kwargs["task"] = config.task
    return kwargs


def _dataset(config, global_batch, split, step=0, replicas=1):
    """The training stream from global step `step` on (exactly what an uninterrupted run
    sees from there), or the validation split; sharded by example over workers."""
    task = TASK_NAMES.index(config.task) if config.task else None
    train = split == "train"
    # Split over replicas, a partial last batch leaves some an empty slice, which the CPU
    # kernels reject: there the per-epoch validation takes whole batches (the final
    # evaluation, on one device, scores every image).
    ds = make_dataset(config.data_dir, split, rule=config.training_rule, image_size=(config.image_size,) * 2,
                      batch_size=global_batch, augment=config.augment and train, seed=config.seed,
                      task=task, shuffle=train, repeat=train, drop_remainder=train or replicas > 1,
                      start=step * global_batch if train else 0, skip_bad_samples=config.skip_bad_samples)
    return shard_by_example(palette_targets(ds) if config.model == "palette" else ds)


def _seed(config):
    # Seeds the weight initialisation (Keras draws its initializers' seeds from Python's RNG).
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def train(config):
    """Trains, checkpoints, evaluates; returns the final metrics dict (None on a worker
    that is not the chief). Resumes from `<model_dir>/backup` if a previous run with the
    same flags was interrupted."""
    config.check()
    # The chief lists what it skipped; the other workers read the same files.
    listing = config.skip_bad_samples and chief.is_chief(config.distribution_strategy)
    # Only the chief writes model_dir; other workers write a temporary folder (chief.py),
    # removed however the run ends (the tools end a failed run without `atexit`).
    out_dir = chief.output_dir(config.model_dir, config.distribution_strategy)
    try:
        with skipped_samples_log(config.model_dir if listing else None):
            return _train(config, out_dir)
    finally:
        chief.remove_output_dir(out_dir, config.model_dir)


def _train(config, out_dir):
    if config.overwrite and out_dir == config.model_dir:
        clear_finished_run(config.model_dir)
    if out_dir != config.model_dir:
        print(f"This worker writes to {out_dir} (removed at the end); the chief writes {config.model_dir}",
              flush=True)
    if config.synthetic and not os.path.isdir(config.data_dir):
        n_train, n_val = synthetic_sizes(config.synthetic)
        print(f"Generating a synthetic PASCAL-MT ({n_train} train, {n_val} val) in {config.data_dir} …",
              flush=True)
        generate_pascal_mt(config.data_dir, n_train, n_val, seed=config.seed, size=config.image_size,
                           variant=config.synthetic_variant)
    n_train = num_examples(config.data_dir, "train")
    n_val = num_examples(config.data_dir, "val")
    precision = resolve_precision(config.precision)
    if precision != config.precision:
        print(f"--precision=auto: training in {precision} on this machine", flush=True)
    if precision != "float32":
        keras.mixed_precision.set_global_policy(precision)
    _seed(config)
    strategy = make_strategy(config.distribution_strategy, config.tpu)
    global_batch = config.batch_size
    if global_batch % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch_size={global_batch} must be a multiple of the "
                         f"{strategy.num_replicas_in_sync} replicas")
    steps = config.steps_per_epoch or max(1, n_train // global_batch)
    replicas = strategy.num_replicas_in_sync
    val_steps = config.validation_steps or (
        n_val // global_batch if replicas > 1 else math.ceil(n_val / global_batch))
    if replicas > 1 and not 0 < val_steps * global_batch <= n_val:
        raise ValueError(f"--batch_size={global_batch}: under {replicas} replicas each validation step takes a "
                         f"whole batch, and the validation split has {n_val} images (lower --validation_steps "
                         "or --batch_size)")

    with strategy.scope():
        net = build_model(config.model, **_net_kwargs(config))
        if strategy.num_replicas_in_sync > 1:
            synchronize_batch_norm(net)  # BatchNorm over the global batch, as on one device
        initialise(net, config)
        if config.model == "palette":  # a plain segmentation into the tasks (§6.2)
            trainer, loss = net, keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        else:
            loss = CompositeLoss(weights=config.loss_weights, focal_gamma=config.focal_gamma,
                                 normals_loss=config.normals_loss, anchors=net.anchors,
                                 tasks=(net.task,) if config.model == "stn" else None)
            tasks = (net.task,) if config.model == "stn" else TASK_NAMES
            metrics = task_metrics(tasks, config.edge_thresholds) if config.validation_metrics else ()
            trainer, loss = CompositeTaskingTrainer(net, loss=loss, metrics=metrics), None
        encoder_share = config.encoder_lr / config.decoder_lr
        optimizer = MultiRateAdam(
            learning_rate(config.schedule, config.decoder_lr, steps, config.milestones, config.lr_factor,
                          total_steps=steps * config.epochs, warmup_steps=config.warmup_steps),
            rate_multipliers=[(net.encoder.trainable_variables, encoder_share)],
            l2=config.weight_decay,
        )
        trainer.compile(optimizer=optimizer, jit_compile=config.jit_compile,
                        **({"loss": loss} if loss is not None else {}))
    save_model_description(net, out_dir)

    # The same first batches at every validation (Keras would go on through a longer split).
    val_ds = _dataset(config, global_batch, "val", replicas=replicas).take(val_steps)
    plateau = [ResumablePlateau(monitor="val_loss", factor=config.lr_factor, patience=config.plateau_patience,
                                verbose=1)] if config.schedule == "plateau" else []
    backup = ResumableBackup(os.path.join(out_dir, "backup"), save_freq=config.backup_every or "epoch",
                             stateful=plateau)
    # Every worker resumes from the chief's backup (a filesystem they all see).
    source = backup if out_dir == config.model_dir else ResumableBackup(
        os.path.join(config.model_dir, "backup"), stateful=plateau)
    with strategy.scope():
        sample_inputs, _ = next(iter(val_ds.take(1)))
        trainer(sample_inputs)  # builds the trainer before a backup is restored into it
        if source.restore(trainer):
            print(f"Resuming from {source.backup_dir} at step {source.step}", flush=True)
    step = backup.step = source.step
    epoch, done = divmod(step, steps)

    callbacks = [
        StopOnNonFiniteLoss(getattr(trainer, "task_names", ())),
        *plateau,  # before the backup, which keeps its end-of-epoch state
        backup,
        NetCheckpoint(net, os.path.join(out_dir, "checkpoints"), monitor="val_loss"),
        keras.callbacks.TensorBoard(os.path.join(out_dir, "logs"), update_freq="epoch"),
        keras.callbacks.CSVLogger(os.path.join(out_dir, "history.csv"), append=True),
    ]
    if config.log_pictures and config.model != "palette":
        batch = {k: v.numpy() for k, v in sample_inputs.items()}
        callbacks.append(CompositePictures(batch, os.path.join(out_dir, "logs")))

    fit_args = dict(validation_data=val_ds, validation_steps=val_steps, callbacks=callbacks, shuffle=False,
                    verbose=config.verbose)
    if done and epoch < config.epochs:
        # Finish the interrupted epoch with just the steps it had left.
        trainer.fit(_dataset(config, global_batch, "train", step), initial_epoch=epoch, epochs=epoch + 1,
                    steps_per_epoch=steps - done, **fit_args)
        epoch += 1
    if epoch < config.epochs:
        trainer.fit(_dataset(config, global_batch, "train", epoch * steps), initial_epoch=epoch,
                    epochs=config.epochs, steps_per_epoch=steps, **fit_args)

    if out_dir != config.model_dir:
        return None  # the chief evaluates (outside the strategy: no collective ops left)
    from ct_keras.training.evaluation import evaluate_net, write_metrics

    keras.mixed_precision.set_global_policy("float32")
    best = load_model_dir(config.model_dir, "best")
    if config.model == "palette":  # evaluated under the rule it learned
        metrics = evaluate_palette_net(best, config.data_dir, rule=config.training_rule,
                                       image_size=config.image_size, batch_size=config.batch_size,
                                       seed=config.seed, steps=config.validation_steps or None)
    else:
        metrics = evaluate_net(best, config.data_dir, rule=config.final_rule,
                               image_size=config.image_size, batch_size=config.batch_size,
                               seed=config.seed, edge_thresholds=config.edge_thresholds,
                               steps=config.validation_steps or None, verbose=config.verbose,
                               skip_bad_samples=config.skip_bad_samples)
    metrics["steps"] = int(trainer.optimizer.iterations.numpy())
    write_metrics(os.path.join(config.model_dir, "metrics.json"), metrics)
    shutil.rmtree(backup.backup_dir, ignore_errors=True)  # the run is complete
    return metrics


def read_metrics(path):
    with open(path) as f:
        return json.load(f)

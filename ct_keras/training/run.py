"""One training run, start to finish: what `tools/train.py` does with its flags. `train`
reads as the steps of a run; each step is a function below or in the module it belongs to."""

import json
import math
import os
import shutil

import keras

from ct_keras.atomic_files import write_atomically
from ct_keras.cpu import native_bfloat16
from ct_keras.data import generate_pascal_mt, make_dataset, num_examples
from ct_keras.data.errors import skipped_samples_log
from ct_keras.losses import CompositeLoss
from ct_keras.metrics import task_metrics
from ct_keras.models import build_model, load_model_dir, save_model_description
from ct_keras.tasks import TASK_NAMES, read_anchors
from ct_keras.training import chief
from ct_keras.training.callbacks import (
    NetCheckpoint, ResumableBackup, ResumablePlateau, StopOnNonFiniteLoss,
)
from ct_keras.training.config import TrainConfig, synthetic_sizes  # noqa: F401  (TrainConfig re-exported)
from ct_keras.training.distribution import make_strategy, shard_by_example, synchronize_batch_norm
from ct_keras.training.initial_weights import initialise
from ct_keras.training.optimizer import MultiRateAdam
from ct_keras.training.palette_training import evaluate_palette_net, palette_targets
from ct_keras.training.pictures import CompositePictures
from ct_keras.training.schedules import learning_rate
from ct_keras.training.trainer import CompositeTaskingTrainer


def train(config):
    """Trains, checkpoints, evaluates; returns the final metrics dict (None on a worker
    that is not the chief). Resumes from `<model_dir>/backup` if a previous run with the
    same flags was interrupted."""
    config.check()
    # Only the chief writes model_dir; other workers write a temporary folder (chief.py),
    # removed however the run ends (the tools end a failed run without `atexit`).
    out_dir = chief.output_dir(config.model_dir, config.distribution_strategy)
    listing = config.skip_bad_samples and chief.is_chief(config.distribution_strategy)  # the chief lists
    try:
        with skipped_samples_log(config.model_dir if listing else None):
            start_afresh_or_say_where(config, out_dir)
            make_synthetic_data(config)
            set_precision(config.precision)
            seed_run(config)
            strategy = make_strategy(config.distribution_strategy, config.tpu)
            steps, val_steps = steps_per_epoch(config, strategy.num_replicas_in_sync)
            net, trainer = build_trainer(config, strategy, steps)
            save_model_description(net, out_dir)
            val_ds = _dataset(config, "val", replicas=strategy.num_replicas_in_sync).take(val_steps)
            sample, _ = next(iter(val_ds.take(1)))  # builds the trainer; drawn in the pictures
            callbacks, backup = run_callbacks(config, out_dir, net, trainer, sample)
            step = resume(config, out_dir, strategy, trainer, backup, sample)
            with strategy.scope():
                fit_from(step, config, trainer, steps, val_ds, val_steps, callbacks)
            if out_dir != config.model_dir:
                return None  # the chief evaluates (outside the strategy: no collective ops left)
            return evaluate_and_finish(config, trainer, backup)
    finally:
        chief.remove_output_dir(out_dir, config.model_dir)


def start_afresh_or_say_where(config, out_dir):
    if config.overwrite and out_dir == config.model_dir:
        clear_finished_run(config.model_dir)
    if out_dir != config.model_dir:
        print(f"This worker writes to {out_dir} (removed at the end); the chief writes {config.model_dir}",
              flush=True)


def make_synthetic_data(config):
    """`--synthetic`: generates the synthetic PASCAL-MT at `data_dir` unless it is there."""
    if config.synthetic and not os.path.isdir(config.data_dir):
        n_train, n_val = synthetic_sizes(config.synthetic)
        print(f"Generating a synthetic PASCAL-MT ({n_train} train, {n_val} val) in {config.data_dir} …",
              flush=True)
        generate_pascal_mt(config.data_dir, n_train, n_val, seed=config.seed, size=config.image_size,
                           variant=config.synthetic_variant)


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


def set_precision(precision):
    """Sets Keras' global dtype policy (`--precision`, `auto` resolved for this machine)."""
    resolved = resolve_precision(precision)
    if resolved != precision:
        print(f"--precision=auto: training in {resolved} on this machine", flush=True)
    keras.mixed_precision.set_global_policy(resolved)


def seed_run(config):
    """Seeds the weight initialisation (Keras draws its initialisers' seeds from Python's
    RNG) and, with `--deterministic`, makes TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def steps_per_epoch(config, replicas):
    """`(training steps, validation batches)` of an epoch, checked against the replicas."""
    if config.batch_size % replicas:
        raise ValueError(f"--batch_size={config.batch_size} must be a multiple of the {replicas} replicas")
    n_train, n_val = num_examples(config.data_dir, "train"), num_examples(config.data_dir, "val")
    steps = config.steps_per_epoch or max(1, n_train // config.batch_size)
    val_steps = config.validation_steps or (
        n_val // config.batch_size if replicas > 1 else math.ceil(n_val / config.batch_size))
    if replicas > 1 and not 0 < val_steps * config.batch_size <= n_val:
        raise ValueError(f"--batch_size={config.batch_size}: under {replicas} replicas each validation step "
                         f"takes a whole batch, and the validation split has {n_val} images (lower "
                         "--validation_steps or --batch_size)")
    return steps, val_steps


def build_trainer(config, strategy, steps):
    """The network (its weights as `config` says they start) and what `fit` trains: the
    `CompositeTaskingTrainer` around it, or the palette network itself, compiled.

    The trainer is created outside the strategy's scope (`CompositeTaskingTrainer`'s
    `strategy` argument says why); every variable is created inside it."""
    with strategy.scope():
        net = build_model(config.model, **_net_kwargs(config))
        if strategy.num_replicas_in_sync > 1:
            synchronize_batch_norm(net)  # BatchNorm over the global batch, as on one device
        initialise(net, config)
        optimizer = MultiRateAdam(
            learning_rate(config.schedule, config.decoder_lr, steps, config.milestones, config.lr_factor,
                          total_steps=steps * config.epochs, warmup_steps=config.warmup_steps),
            rate_multipliers=[(net.encoder.trainable_variables, config.encoder_lr / config.decoder_lr)],
            l2=config.weight_decay, clip_grad_norm=config.clip_grad_norm)
    if config.model == "palette":  # a plain segmentation into the tasks (§6.2)
        with strategy.scope():
            net.compile(optimizer=optimizer, jit_compile=config.jit_compile,
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return net, net
    with strategy.scope():
        tasks = (net.task,) if config.model == "stn" else None
        loss = CompositeLoss(weights=config.loss_weights, focal_gamma=config.focal_gamma,
                             normals_loss=config.normals_loss, anchors=net.anchors, tasks=tasks)
        metrics = task_metrics(tasks or TASK_NAMES, config.edge_thresholds) if config.validation_metrics else ()
    trainer = CompositeTaskingTrainer(net, loss=loss, metrics=metrics, strategy=strategy)
    with strategy.scope():
        trainer.compile(optimizer=optimizer, jit_compile=config.jit_compile)
    return net, trainer


def run_callbacks(config, out_dir, net, trainer, sample):
    """The callbacks of `fit`, and the backup among them."""
    plateau = [ResumablePlateau(monitor="val_loss", factor=config.lr_factor, patience=config.plateau_patience,
                                verbose=1)] if config.schedule == "plateau" else []
    backup = ResumableBackup(os.path.join(out_dir, "backup"), save_freq=config.backup_every or "epoch",
                             stateful=plateau)
    callbacks = [
        StopOnNonFiniteLoss(getattr(trainer, "task_names", ())),
        *plateau,  # before the backup, which keeps its end-of-epoch state
        backup,
        NetCheckpoint(net, os.path.join(out_dir, "checkpoints"), monitor="val_loss"),
        keras.callbacks.TensorBoard(os.path.join(out_dir, "logs"), update_freq="epoch"),
        keras.callbacks.CSVLogger(os.path.join(out_dir, "history.csv"), append=True),
    ]
    if config.log_pictures and config.model != "palette":
        callbacks.append(CompositePictures({k: v.numpy() for k, v in sample.items()},
                                           os.path.join(out_dir, "logs")))
    return callbacks, backup


def resume(config, out_dir, strategy, trainer, backup, sample):
    """Builds the trainer and its optimizer on a validation batch, then loads the chief's
    backup into it if there is one (every worker reads the same files); returns the
    training step to go on from (0 for a fresh run)."""
    source = backup if out_dir == config.model_dir else ResumableBackup(
        os.path.join(config.model_dir, "backup"), stateful=backup.stateful)
    with strategy.scope():
        trainer(sample)  # builds every layer before a backup is restored into it
        trainer.optimizer.build(trainer.trainable_variables)
        if source.restore(trainer):
            print(f"Resuming from {source.backup_dir} at step {source.step}", flush=True)
    backup.step = source.step
    return source.step


def fit_from(step, config, trainer, steps, val_ds, val_steps, callbacks):
    """Trains from global step `step` to the end: first the steps left of an interrupted
    epoch, then whole epochs, each on the data stream from where it starts."""
    epoch, done = divmod(step, steps)
    fit_args = dict(validation_data=val_ds, validation_steps=val_steps, callbacks=callbacks, shuffle=False,
                    verbose=config.verbose)
    if done and epoch < config.epochs:
        trainer.fit(_dataset(config, "train", step), initial_epoch=epoch, epochs=epoch + 1,
                    steps_per_epoch=steps - done, **fit_args)
        epoch += 1
    if epoch < config.epochs:
        trainer.fit(_dataset(config, "train", epoch * steps), initial_epoch=epoch, epochs=config.epochs,
                    steps_per_epoch=steps, **fit_args)


def evaluate_and_finish(config, trainer, backup):
    """Scores the best checkpoint (the palette network under its rule, the others under
    `final_rule`), writes metrics.json and removes the backup of the finished run."""
    from ct_keras.training.evaluation import evaluate_net, write_metrics

    keras.mixed_precision.set_global_policy("float32")
    best = load_model_dir(config.model_dir, "best")
    if config.model == "palette":
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


def clear_finished_run(model_dir):
    """Removes what a finished run left (checkpoints, logs, metrics) before training anew."""
    if not os.path.isfile(os.path.join(model_dir, "metrics.json")):
        return
    for name in ("checkpoints", "logs", "backup"):
        shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)
    if os.path.isfile(os.path.join(model_dir, "history.csv")):
        os.remove(os.path.join(model_dir, "history.csv"))
    os.remove(os.path.join(model_dir, "metrics.json"))


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


def _dataset(config, split, step=0, replicas=1):
    """The training stream from global step `step` on (exactly what an uninterrupted run
    sees from there), or the validation split; sharded by example over workers."""
    task = TASK_NAMES.index(config.task) if config.task else None
    train = split == "train"
    # Split over replicas, a partial last batch leaves some an empty slice, which the CPU
    # kernels reject: there the per-epoch validation takes whole batches (the final
    # evaluation, on one device, scores every image).
    ds = make_dataset(config.data_dir, split, rule=config.training_rule, image_size=(config.image_size,) * 2,
                      batch_size=config.batch_size, augment=config.augment and train, seed=config.seed,
                      task=task, shuffle=train, repeat=train, drop_remainder=train or replicas > 1,
                      start=step * config.batch_size if train else 0, skip_bad_samples=config.skip_bad_samples)
    return shard_by_example(palette_targets(ds) if config.model == "palette" else ds)


def read_metrics(path):
    with open(path) as f:
        return json.load(f)

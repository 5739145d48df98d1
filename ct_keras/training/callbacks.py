"""Callbacks that make a run safe to kill: atomic checkpoints, mid-epoch backups, NaN stops."""

import json
import math
import os
import warnings

import keras
import numpy as np

from ct_keras.atomic_files import replace_atomically, write_json_atomically


def _save_weights_atomically(layer, path):
    # Keras wants the .weights.h5 ending on the temporary name too.
    replace_atomically(path, lambda tmp: layer.save_weights(tmp, overwrite=True),
                       tmp=path[: -len(".weights.h5")] + ".tmp.weights.h5")


class ResumableBackup(keras.callbacks.Callback):
    """A backup that resumes mid-epoch and survives SIGKILL at any moment (Keras'
    `BackupAndRestore` restarts a killed epoch from its first step; this one is ours, on
    public APIs only, and keeps its file names, `latest.weights.h5` and
    `training_metadata.json`).

    Every `save_freq` steps and at each epoch end it writes the trainer's weights with
    the optimizer state to a temporary name renamed into place, so a kill leaves the
    previous backup whole, and the count of training steps taken (`step`; not the
    optimizer's counter, which skips the steps that mixed_float16 loss scaling drops).
    `restore` loads the backup before `fit`, and `step` says where to go on: with a fixed
    `steps_per_epoch`, epoch `step // steps_per_epoch`, of which `step % steps_per_epoch`
    steps are done (`tools/train.py` runs just the steps left of it, then the following
    epochs, on the data stream from that step on).

    Args:
        backup_dir: the folder of the backup.
        save_freq: steps between backups, or `"epoch"` (epoch ends only).
        stateful: callbacks with `get_state()`/`set_state(state)` (e.g. `ResumablePlateau`)
            whose state goes into the backup with the weights; put them before this one
            in the callback list, so that an epoch-end backup holds their end-of-epoch state.
    """

    def __init__(self, backup_dir, save_freq="epoch", stateful=()):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"`save_freq` must be 'epoch' or a positive number of steps. Received {save_freq!r}")
        self.backup_dir, self.save_freq, self.stateful = backup_dir, save_freq, list(stateful)
        self.weights_path = os.path.join(backup_dir, "latest.weights.h5")
        self.metadata_path = os.path.join(backup_dir, "training_metadata.json")
        self.step = self._epoch_start = self._unsaved = 0

    def restore(self, model):
        """Loads the backup into `model` (trainer with compiled optimizer); False if none."""
        if not os.path.isfile(self.weights_path):
            return False
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self.weights_path)
        with open(self.metadata_path) as f:
            meta = json.load(f)
        self.step = self._epoch_start = meta["step"]
        for callback, state in zip(self.stateful, meta.get("callbacks", ())):
            callback.set_state(state)
        return True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.step

    def on_train_batch_end(self, batch, logs=None):
        self.step = self._epoch_start + batch + 1
        self._unsaved += 1
        if self.save_freq != "epoch" and self._unsaved >= self.save_freq:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()

    def save(self):
        """Writes the backup now (each file whole, or the previous one kept)."""
        os.makedirs(self.backup_dir, exist_ok=True)
        _save_weights_atomically(self.model, self.weights_path)
        meta = {"step": self.step}
        if self.stateful:
            meta["callbacks"] = [callback.get_state() for callback in self.stateful]
        write_json_atomically(self.metadata_path, meta)
        self._unsaved = 0


class ResumablePlateau(keras.callbacks.Callback):
    """Multiplies the learning rate by `factor` once `monitor` has not improved (by more
    than `min_delta`) for `patience` epochs, then waits `cooldown` epochs: the rule of
    Keras' `ReduceLROnPlateau`, on public APIs only, with its counters (best value, epochs
    waited, cooldown) as state that carries on across `fit` calls and, through
    `ResumableBackup(stateful=[...])`, across restarts (Keras' own starts afresh at every
    `fit`). `mode`: "min" or "max"."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="min", min_delta=1e-4, cooldown=0,
                 min_lr=0.0, verbose=0):
        super().__init__()
        if not 0 < factor < 1:
            raise ValueError(f"`factor` must be in (0, 1). Received {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min' or 'max'. Received {mode!r}")
        self.monitor, self.factor, self.patience, self.mode = monitor, factor, patience, mode
        self.min_delta, self.cooldown, self.min_lr, self.verbose = abs(min_delta), cooldown, min_lr, verbose
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def _improved(self, current):
        if self.best is None:
            return True
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"The plateau schedule follows `{self.monitor}`, absent from the logs "
                          f"({', '.join(logs)})", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(float(current)):
            self.best, self.wait = float(current), 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = logs["learning_rate"]
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    self.cooldown_counter, self.wait = self.cooldown, 0
                    if self.verbose:
                        print(f"\nEpoch {epoch + 1}: the plateau schedule sets the learning rate to {new:.3g}")

    def get_state(self):
        return {"best": self.best, "wait": int(self.wait), "cooldown_counter": int(self.cooldown_counter)}

    def set_state(self, state):
        self.best, self.wait, self.cooldown_counter = state["best"], state["wait"], state["cooldown_counter"]


class NetCheckpoint(keras.callbacks.Callback):
    """Writes the network's weights after every epoch (`last`) and when `monitor` improves
    (`best`), each atomically; the best value is kept on disk, so a resumed run does not
    overwrite a better `best` with a worse one.

    Args:
        net: the network whose weights are saved (not the trainer's optimizer state).
        directory: `<model_dir>/checkpoints`.
        monitor: a log key (e.g. `"val_loss"`); when absent from the logs, `best`
            follows `last`.
        mode: `"min"` or `"max"`.
    """

    def __init__(self, net, directory, monitor="val_loss", mode="min"):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min' or 'max'. Received {mode!r}")
        self.net, self.directory, self.monitor, self.mode = net, directory, monitor, mode
        self._best_path = os.path.join(directory, "best.json")

    def _best(self):
        if not os.path.isfile(self._best_path):
            return None
        with open(self._best_path) as f:
            return json.load(f)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        _save_weights_atomically(self.net, os.path.join(self.directory, "last.weights.h5"))
        value = (logs or {}).get(self.monitor)
        best = self._best()
        improved = value is None or best is None or best.get("value") is None or (
            value < best["value"] if self.mode == "min" else value > best["value"])
        if improved:
            _save_weights_atomically(self.net, os.path.join(self.directory, "best.weights.h5"))
            write_json_atomically(self._best_path, {
                "epoch": epoch + 1, "monitor": self.monitor,
                "value": None if value is None else float(value),
            })


class NonFiniteLossError(ValueError):
    """A loss became NaN or infinite; the checkpoints on disk are the last good ones."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or infinite, naming the task
    and the step. It raises before any later callback of that step can save, so the
    checkpoints and backups on disk stay those of the last good step. Put it first."""

    def __init__(self, task_names):
        super().__init__()
        self.task_names = list(task_names)

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        keys = [f"{n}_loss" for n in self.task_names] + ["loss"]
        for key in keys:
            value = logs.get(key)
            if value is not None and not math.isfinite(float(value)):
                step = int(self.model.optimizer.iterations.numpy())
                task = key[: -len("_loss")] if key != "loss" else "total"
                raise NonFiniteLossError(
                    f"The {task} loss became {float(value)} at training step {step}; "
                    "stopped. The checkpoints on disk are from before this step "
                    "(lower the learning rate or check that task's labels)."
                )

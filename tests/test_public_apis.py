"""The library stands on public Keras and TensorFlow APIs: a scan of its source for private
attributes of their classes (a `._name` that Keras or TensorFlow defines), so that new ones
cannot creep in. The uses not yet replaced are listed, and the list may only shrink."""

import ast
import pathlib

import keras
import tensorflow as tf

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The classes our code extends or calls into.
_BASES = (keras.Model, keras.layers.Layer, keras.callbacks.Callback, keras.callbacks.BackupAndRestore,
          keras.callbacks.ReduceLROnPlateau, keras.callbacks.ModelCheckpoint, keras.optimizers.Optimizer,
          keras.optimizers.Adam, keras.metrics.Metric, keras.losses.Loss, keras.Variable,
          tf.distribute.Strategy, tf.distribute.StrategyExtended, tf.distribute.MultiWorkerMirroredStrategy,
          tf.Module, tf.data.Dataset,
          tf.train.Checkpoint, tf.Variable)
# Instances too: many private attributes are set in `__init__`.
_INSTANCES = (keras.callbacks.BackupAndRestore("/nonexistent_backup"), keras.callbacks.ReduceLROnPlateau(),
              keras.optimizers.Adam(), keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]),
              keras.layers.BatchNormalization(), tf.distribute.get_strategy(), tf.Variable(0.0))
PRIVATE = {name for base in _BASES + _INSTANCES for name in dir(base)
           if name.startswith("_") and not (name.startswith("__") and name.endswith("__"))}

# Uses still to be replaced by a public mechanism; the set may only shrink (it is empty:
# the trainer builds on a real batch before `fit`, the backup and the plateau schedule are
# our own callbacks, and the optimizer keys its rates by the strategy's local variables).
NOT_YET_REPLACED = set()


def private_uses(root=ROOT / "ct_keras"):
    """`{(file, name)}` of every `x._name` (access, call or definition) whose `_name` Keras or
    TensorFlow classes define."""
    found = set()
    for path in root.rglob("*.py"):
        relative = str(path.relative_to(root.parent))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
                found.add((relative, node.attr))
            elif isinstance(node, ast.ClassDef):  # a method overriding a private one
                found.update((relative, item.name) for item in node.body
                             if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in PRIVATE)
    return found


def test_the_scan_sees_what_it_must(tmp_path):
    assert {"_maybe_symbolic_build", "_flatten_layers", "_weights_path", "_reset"} <= PRIVATE
    package = tmp_path / "ct_keras"
    package.mkdir()
    (package / "bad.py").write_text(
        "def f(model, strategy):\n"
        "    strategy.extended._in_multi_worker_mode()\n"
        "    return model._flatten_layers(), model._own_name\n")
    assert {name for _, name in private_uses(package)} >= {"_flatten_layers", "_in_multi_worker_mode"}
    assert "_own_name" not in {name for _, name in private_uses(package)}  # ours, not Keras'


def test_no_new_private_keras_or_tensorflow_attribute():
    uses = private_uses()
    new = uses - NOT_YET_REPLACED
    assert not new, f"private Keras/TensorFlow attributes used: {sorted(new)}; use a public API"
    gone = NOT_YET_REPLACED - uses
    assert not gone, f"no longer used, remove from NOT_YET_REPLACED: {sorted(gone)}"

"""SavedModel export in TF Serving's layout: `<export_dir>/<version>/`, written atomically."""

import json
import os
import re
import shutil
import tempfile

import tensorflow as tf

from ct_keras.deploy.serving_module import FILL_VALUES, ServingModule
from ct_keras.deploy.user_inputs import EXPORT_INFO
from ct_keras.tasks import TASK_NAMES


def existing_versions(export_dir):
    """The integer version folders under `export_dir`, sorted."""
    if not os.path.isdir(export_dir):
        return []
    return sorted(int(n) for n in os.listdir(export_dir)
                  if re.fullmatch(r"\d+", n) and os.path.isdir(os.path.join(export_dir, n)))


def next_version(export_dir):
    """One more than the highest version in `export_dir` (1 for a new folder)."""
    versions = existing_versions(export_dir)
    return versions[-1] + 1 if versions else 1


def export_info(module, model):
    """What a client needs to know about an export, stored in `assets.extra/` next to it
    (and next to `.tflite` files): its size, tasks, the class anchors it decodes with
    (also the class colours of pictures) and the model's config."""
    height, width = module.image_hw
    info = {
        "image_size": [height, width],
        "task_names": list(TASK_NAMES),
        "fill_values": {TASK_NAMES[k]: v for k, v in FILL_VALUES.items()},
        "fast_path": module.fast,
        "anchors": module.anchors,
        "model": type(model).__name__,
        "config": _config(model),
    }
    if getattr(module, "palette_network", None) is not None:
        info["palette_model"] = palette_info(module.palette_network)
    return info


def _config(model):
    return {k: v for k, v in model.get_config().items() if k not in ("name", "trainable")}


def palette_info(palette_module, file=None):
    """What the info file says of the palette network exported with the CTN: the rule it
    learnt, where it came from, its config and (TFLite) its file."""
    info = {"rule": palette_module.rule, "source": palette_module.source,
            "config": _config(palette_module._net)}
    if file is not None:
        info["file"] = file
    return info


def write_export_info(path, module, model):
    """Writes `export_info` as JSON at `path` (making its folder)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(export_info(module, model), f, indent=2)


def save_module(module, path, batch_size=None):
    """`tf.saved_model.save` of a `ServingModule` with all its signatures."""
    tf.saved_model.save(module, path, signatures=module.signatures(batch_size))


def export_saved_model(model, export_dir, version=None, fast=True, palette_net=None,
                       palette_source="the palette network", constant_weights=False):
    """Exports `model` as `<export_dir>/<version>/` for TF Serving.

    The SavedModel is written to a temporary folder inside `export_dir` and renamed
    into place, so that a server watching `export_dir` never sees half a version.

    Signatures (see `ServingModule`): `serving_default` (image + palette),
    `single_task` (image + one task id per image), `encoded_image` (JPEG/PNG bytes +
    palette) and `all_tasks` (image alone); with `palette_net`, `palette` (image → the
    Task Palette it predicts) and `predicted_palette` (image → that palette and the
    prediction under it). Inputs of a wrong size, a palette of the wrong shape or ids
    outside the tasks fail with a message saying what was expected.

    Args:
        model: a float32 `CompositeTaskingNet` (or, with `fast=False`, any model that
            takes a palette).
        export_dir: the model's base folder (TF Serving's `--model_base_path`).
        version: integer version; default one more than the highest present.
        fast: export the exact fast path (`FastCompositeTasking`) rather than the
            Keras graph.
        palette_net: a trained `PaletteNet` of the model's image size and tasks, or None.
        palette_source: where it came from (its run folder), for the info file and errors.
        constant_weights: with `fast`, store the weights as constants of the graph (no
            variables): under oneDNN a constant filter keeps its reordered layout between
            calls, 1.2-1.5x faster on an AVX2 box, but the loaded model takes about three
            times the memory (BENCHMARKS.md, "A real AVX2-only box, and constant weights
            in the SavedModel"). The encoder and the two decoders are each one function
            that every signature calls, so each weight is stored once per function.

    Returns:
        The path of the new version folder.
    """
    if version is None:
        version = next_version(export_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"`version` must be a non-negative integer. Received {version!r}")
    final = os.path.join(export_dir, str(version))
    if constant_weights and not fast:
        raise ValueError("`constant_weights` is for the fast path's export (fast=True); the Keras "
                         "graph's export keeps its variables")
    if os.path.exists(final):
        raise ValueError(
            f"{final} already exists: a served version is never overwritten; pick another --version"
        )
    module = ServingModule(model, fast=fast, check_inputs=True, palette_net=palette_net,
                           palette_source=palette_source, constant_weights=constant_weights)
    os.makedirs(export_dir, exist_ok=True)
    # A dot-name TF Serving ignores (it only loads folders named by integers).
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_dir)
    try:
        save_module(module, tmp)
        write_export_info(os.path.join(tmp, EXPORT_INFO), module, model)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


"""Reads PyTorch checkpoints into our models: torchvision/timm ImageNet ResNets into the
encoder, or whole checkpoints of the authors' code (`CompositeTaskingNetV0`, its STN and
MHN variants) into the matching model.

Every weight is checked (name, shape, nothing missing, nothing left over) before any is
assigned, so a checkpoint that does not fit leaves the model untouched and the error names
the first keys that do not match.
"""

import os
import re

import keras
import numpy as np

from ct_keras.layers.plain_block import PlainBlock
from ct_keras.layers.task_composition import TaskComposition
from ct_keras.layers.task_representation import TaskRepresentation
from ct_keras.tasks import TASK_NAMES

# Our decoder block names → the reference's module names.
REFERENCE_BLOCKS = {
    "image_block_0": "skip_orig_img_cond_pt0",
    "image_block_1": "skip_orig_img_cond_pt1",
    **{f"skip_{l}": f"skip_{l}_cond" for l in range(1, 6)},
    **{f"decoder_{l}": f"regular_{l}_cond" for l in range(1, 5)},
    "decoder_0": "final_cond_0",
    "head": "conv_last",
}
# The reference's task names (its MHN keys decoders by them).
REFERENCE_TASK_NAMES = {"semseg": "seg"}
# The reference's task codes put the blocks in the order seg, parts, edges, normals,
# saliency; ours follow the task ids (…, saliency 3, normals 4).
REFERENCE_CODE_BLOCK = {0: 0, 1: 1, 2: 2, 3: 4, 4: 3}
IGNORED_KEY = re.compile(r"(^|\.)num_batches_tracked$")


class CheckpointMismatch(ValueError):
    """A checkpoint's names or shapes do not fit the model."""


def read_state_dict(path, trust_checkpoint=False):
    """A checkpoint file → `{name: np.ndarray}`.

    `.safetensors` is read without torch; `.pth`/`.pt`/`.bin`/`.ckpt` need torch. A
    Lightning checkpoint's `state_dict` is unwrapped, and a `model.` or `module.` prefix
    shared by every key is dropped. Pickled files are loaded with `weights_only=True`
    unless `trust_checkpoint` (pickles can run code: only for files you trust).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint {path} does not exist")
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        state = load_file(path)
    else:
        try:
            import torch
        except ImportError:
            raise ImportError(
                f"Reading {path} needs PyTorch (pip install 'ct_keras[torch]'), "
                "or convert it to .safetensors first"
            ) from None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=not trust_checkpoint)
        except Exception as e:  # torch raises many kinds for bad or unsafe pickles
            hint = "" if trust_checkpoint else (
                " If the file is a Lightning checkpoint you trust, retry with "
                "--trust_checkpoint (it holds more than tensors)."
            )
            raise ValueError(f"Cannot read checkpoint {path}: {e}.{hint}") from None
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if not isinstance(obj, dict):
            raise ValueError(f"Checkpoint {path} holds no state dict (found {type(obj).__name__})")
        state = {k: v.detach().cpu().numpy() for k, v in obj.items() if hasattr(v, "detach")}
    for prefix in ("model.", "module."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def is_reference_checkpoint(state):
    """True for a whole model of the authors' code, False for an ImageNet ResNet."""
    return "layer1.0.weight" in state and "layer5.0.conv1.weight" in state


def _torchvision_name(name):
    # Our backbone names torchvision's `layer1.0.conv1` as `layer1_0_conv1`.
    return name.replace("_", ".")


def _reference_encoder_name(name):
    # The reference wraps torchvision's children: layer1 = (conv1, bn1, relu),
    # layer2 = (maxpool, layer1), layer3..5 = layer2..4.
    if name == "conv1":
        return "layer1.0"
    if name == "bn1":
        return "layer1.1"
    stage, rest = re.match(r"layer(\d)_(.*)", name).groups()
    torch_rest = _torchvision_name(rest)
    if stage == "1":
        return f"layer2.1.{torch_rest}"
    return f"layer{int(stage) + 1}.{torch_rest}"


def _conv_weights(layer, prefix):
    out = [(layer.kernel, f"{prefix}.weight", lambda w: w.transpose(2, 3, 1, 0))]
    if layer.use_bias:
        out.append((layer.bias, f"{prefix}.bias", None))
    return out


def _dense_weights(layer, prefix, permute_inputs=None):
    def kernel(w):
        w = w.T
        return w[permute_inputs] if permute_inputs is not None else w

    return [(layer.kernel, f"{prefix}.weight", kernel), (layer.bias, f"{prefix}.bias", None)]


def _bn_weights(layer, prefix):
    out = []
    if layer.scale:
        out.append((layer.gamma, f"{prefix}.weight", None))
    if layer.center:
        out.append((layer.beta, f"{prefix}.bias", None))
    out += [(layer.moving_mean, f"{prefix}.running_mean", None),
            (layer.moving_variance, f"{prefix}.running_var", None)]
    return out


def _layer_weights(layer, prefix):
    if isinstance(layer, keras.layers.Conv2D):
        return _conv_weights(layer, prefix)
    if isinstance(layer, keras.layers.BatchNormalization):
        return _bn_weights(layer, prefix)
    return []


def _encoder_pairs(encoder, naming):
    pairs = []
    for layer in encoder.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.BatchNormalization)):
            pairs += _layer_weights(layer, naming(layer.name))
    return pairs


def _block_pairs(layer, prefix):
    if isinstance(layer, TaskComposition):
        if layer.num_shared_convs != 1:
            raise CheckpointMismatch(
                "The reference has one shared 1×1 conv per block. "
                f"Received a model with num_shared_convs={layer.num_shared_convs}"
            )
        cond = f"{prefix}.spatial_cond"
        return (_conv_weights(layer.conv, f"{prefix}.conv1")
                + _bn_weights(layer.norm, f"{cond}.param_free_norm")
                + _conv_weights(layer.shared_convs[0], f"{cond}.conv_shared.0")
                + _conv_weights(layer.gamma_conv, f"{cond}.transform_gamma")
                + _conv_weights(layer.beta_conv, f"{cond}.transform_beta"))
    if isinstance(layer, PlainBlock):
        return _conv_weights(layer.conv, f"{prefix}.conv1") + _bn_weights(layer.norm, f"{prefix}.batch_norm")
    return _layer_weights(layer, prefix)


def _representation_pairs(layer):
    code_length = layer.code_length
    # Row j of our first kernel reads code entry j; take it from the reference's column.
    permutation = np.concatenate([
        np.arange(code_length) + REFERENCE_CODE_BLOCK.get(k, k) * code_length
        for k in range(layer.num_tasks)
    ])
    pairs = []
    for i, dense in enumerate(layer.dense_layers):
        pairs += _dense_weights(dense, f"fcs.mapping.{2 * i + 1}", permutation if i == 0 else None)
    return pairs


def _reference_decoder_prefix(name):
    # `semseg_decoder_4` (MHN) → `decoders.seg.module.regular_4_cond`; `decoder_4` → `regular_4_cond`.
    for k, task in enumerate(TASK_NAMES):
        if name.startswith(task + "_") and name[len(task) + 1:] in REFERENCE_BLOCKS:
            ref_task = REFERENCE_TASK_NAMES.get(task, task)
            return f"decoders.{ref_task}.module.{REFERENCE_BLOCKS[name[len(task) + 1:]]}"
    return REFERENCE_BLOCKS.get(name)


def _reference_pairs(model):
    pairs = []
    for layer in model.layers:
        if layer.name == "encoder":
            pairs += _encoder_pairs(layer, _reference_encoder_name)
        elif isinstance(layer, TaskRepresentation):
            pairs += _representation_pairs(layer)
        else:
            prefix = _reference_decoder_prefix(layer.name)
            if prefix is not None:
                pairs += _block_pairs(layer, prefix)
            elif layer.weights:
                raise CheckpointMismatch(f"Layer {layer.name!r} has no counterpart in the reference")
    return pairs


def _format(items, limit=5):
    items = list(items)
    more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _check_and_assign(pairs, state, ignore):
    mismatched, missing, values = [], [], []
    for variable, key, transform in pairs:
        if key not in state:
            missing.append(key)
            continue
        value = state[key] if transform is None else transform(state[key])
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(variable.shape)}")
            continue
        values.append((variable, value))
    used = {key for _, key, _ in pairs}
    unexpected = [k for k in state if k not in used and not IGNORED_KEY.search(k) and not ignore(k)]
    problems = []
    if missing:
        problems.append(f"missing from the checkpoint: {_format(missing)}")
    if mismatched:
        problems.append(f"shape mismatches: {_format(mismatched)}")
    if unexpected:
        problems.append(f"not used by the model: {_format(unexpected)}")
    if problems:
        raise CheckpointMismatch("The checkpoint does not fit the model; " + "; ".join(problems))
    for variable, value in values:
        variable.assign(value.astype(variable.dtype))
    return len(values)


def load_torch_state_dict(model, state):
    """Assigns a PyTorch state dict to `model`; returns how many tensors were loaded.

    An ImageNet ResNet (torchvision or timm names) fills `model.encoder` (its `fc` is
    dropped); a checkpoint of the authors' code fills the whole model.
    """
    if is_reference_checkpoint(state):
        has_representation = any(isinstance(l, TaskRepresentation) for l in model.layers)
        # The reference's STN is its CTN without conditioning: its unused MLP is skipped.
        ignore = (lambda k: k.startswith("fcs.")) if not has_representation else (lambda k: False)
        return _check_and_assign(_reference_pairs(model), state, ignore)
    encoder = getattr(model, "encoder", model)
    if "conv1.weight" not in state:
        raise CheckpointMismatch(
            "The checkpoint is neither a torchvision/timm ResNet (no 'conv1.weight') nor a "
            f"CompositeTasking checkpoint. Its first keys: {_format(sorted(state))}"
        )
    return _check_and_assign(_encoder_pairs(encoder, _torchvision_name), state,
                             lambda k: k.startswith("fc."))

"""Reads PyTorch checkpoints into our models: torchvision/timm ImageNet ResNets into the
encoder, or whole checkpoints of the authors' code into the matching model — their
`CompositeTaskingNetV0` (CTN), the same net with `no_cond` blocks (STN),
`MultiHeadNetV0` (MHN) and `MultiNetV0` (MN) — as a plain state dict, wrapped by
`nn.DataParallel`, or as the Lightning `.ckpt` their training writes (file layouts:
`ct_keras.models.torch_checkpoint`).

Their key layout, per model (`<b>` a decoder block, e.g. `regular_4_cond`; `<id>` a
task id, the same as ours):
- encoder: `layer1.0` conv1, `layer1.1` bn1, `layer2.1.*` torchvision's layer1, `layer3`
  … `layer5` torchvision's layer2 … layer4;
- CTN: `fcs.mapping.{1,3,…,11}` the task MLP; `<b>.conv1`, `<b>.spatial_cond.{conv_shared.0,
  param_free_norm,transform_gamma,transform_beta}`; `conv_last`;
- STN: `<b>.conv1`, `<b>.batch_norm`; it also holds the (unused, untrained) `fcs.*`;
- MHN: the encoder, then `decoders.<id>.module.<b>.…` (each decoder is an `nn.DataParallel`);
- MN: `encoders.<id>.layer1.0.…` and `decoders.<id>.<b>.…`.
A Lightning checkpoint adds `task_z_code_dict.<task name>`: the task codes z, ones on one
block of 20 (the model L2-normalises them). They fix which block of z is which task, so
the CTN's first MLP layer is read in that order.

Every weight is checked (name, shape, nothing missing, nothing left over) before any is
assigned, so a checkpoint that does not fit leaves the model untouched and the error names
the first keys that do not match.
"""

import re

import keras
import numpy as np

from ct_keras.layers.plain_block import PlainBlock
from ct_keras.layers.task_composition import TaskComposition
from ct_keras.layers.task_representation import TaskRepresentation
from ct_keras.models.multi_head_net import task_prefix
from ct_keras.models.torch_checkpoint import CODE_PREFIX, read_state_dict  # noqa: F401

# Our decoder block names → the reference's module names.
REFERENCE_BLOCKS = {
    "image_block_0": "skip_orig_img_cond_pt0",
    "image_block_1": "skip_orig_img_cond_pt1",
    **{f"skip_{l}": f"skip_{l}_cond" for l in range(1, 6)},
    **{f"decoder_{l}": f"regular_{l}_cond" for l in range(1, 5)},
    "decoder_0": "final_cond_0",
    "head": "conv_last",
}
# The reference's task names (its `task_z_code_dict` keys); ids are the same as ours.
REFERENCE_TASK_NAMES = {"semseg": "seg"}
# The block of z that the reference's data set gives each task id when a checkpoint
# does not carry its codes: seg, parts, edges, normals, saliency (ours follow the ids).
REFERENCE_CODE_BLOCK = {0: 0, 1: 1, 2: 2, 3: 4, 4: 3}
REFERENCE_MODELS = {"ctn": "CompositeTaskingNetV0", "stn": "CompositeTaskingNetV0 with no_cond",
                    "mhn": "MultiHeadNetV0", "mn": "MultiNetV0"}
IGNORED_KEY = re.compile(r"(^|\.)num_batches_tracked$")


class CheckpointMismatch(ValueError):
    """A checkpoint's names or shapes do not fit the model."""


def reference_task_name(k):
    """Their name of our task id `k` (`task_z_code_dict` keys): seg, parts, edges, …"""
    name = task_prefix(k)[:-1]
    return REFERENCE_TASK_NAMES.get(name, name)


def split_task_codes(state):
    """`(weights, codes)`: the network's tensors and the task codes `{name: z}`."""
    codes = {k[len(CODE_PREFIX):]: v for k, v in state.items() if k.startswith(CODE_PREFIX)}
    weights = {k: v for k, v in state.items() if not k.startswith(CODE_PREFIX)}
    return weights, codes


def code_block(name, z, code_length):
    """The block a task code z sets: z must be c > 0 on one block of `code_length`, 0 elsewhere."""
    z = np.asarray(z, np.float64).reshape(-1)
    key = CODE_PREFIX + name
    if z.size % code_length:
        raise CheckpointMismatch(f"{key} has {z.size} entries, not a multiple of the code "
                                 f"length {code_length}")
    nonzero = np.flatnonzero(z)
    block = nonzero[0] // code_length if nonzero.size else 0
    expected = np.arange(block * code_length, (block + 1) * code_length)
    if (nonzero.size != code_length or not np.array_equal(nonzero, expected)
            or not np.allclose(z[expected], z[expected[0]]) or z[expected[0]] <= 0):
        raise CheckpointMismatch(
            f"{key} is not a one-block task code (a positive constant on one block of "
            f"{code_length} entries, zeros elsewhere); its non-zero entries are at "
            f"{_format(str(i) for i in nonzero)}"
        )
    return int(block)


def _check_code_names(codes, task_ids):
    names = [reference_task_name(k) for k in task_ids]
    unknown = sorted(set(codes) - set(names))
    missing = [n for n in names if n not in codes]
    if unknown or missing:
        found = [CODE_PREFIX + n for n in sorted(codes)]
        raise CheckpointMismatch(
            f"The checkpoint's task codes ({_format(found)}) do not match the model's tasks "
            f"{names}: " + "; ".join(filter(None, [
                missing and f"missing {_format(CODE_PREFIX + n for n in missing)}",
                unknown and f"not used {_format(CODE_PREFIX + n for n in unknown)}"])))


def code_blocks(codes, num_tasks, code_length):
    """`{task id: block of z}` from a checkpoint's codes (the reference's fixed order without them)."""
    if not codes:
        return dict(REFERENCE_CODE_BLOCK)
    _check_code_names(codes, range(num_tasks))
    blocks = {}
    for k in range(num_tasks):
        name = reference_task_name(k)
        z = codes[name]
        if z.size != num_tasks * code_length:
            raise CheckpointMismatch(f"{CODE_PREFIX}{name}: checkpoint {tuple(z.shape)} vs model "
                                     f"({num_tasks * code_length},)")
        blocks[k] = code_block(name, z, code_length)
    if len(set(blocks.values())) != len(blocks):
        raise CheckpointMismatch(f"The checkpoint's task codes share blocks: {blocks} (task id: block)")
    return blocks


def is_reference_checkpoint(state):
    """True for a whole model of the authors' code, False for an ImageNet ResNet."""
    return _reference_kind(state) is not None


def _reference_kind(weights):
    """Which of the authors' networks a state dict is: "ctn", "stn", "mhn", "mn" or None."""
    if any(re.match(r"encoders\.\d+\.layer1\.0\.weight$", k) for k in weights):
        return "mn"
    if "layer1.0.weight" not in weights or "layer5.0.conv1.weight" not in weights:
        return None
    if any(k.startswith("decoders.") for k in weights):
        return "mhn"
    return "ctn" if any(".spatial_cond." in k for k in weights) else "stn"


def model_kind(model):
    """The model's kind (ctn, stn, mhn or mn), from its structure."""
    if any(isinstance(l, TaskRepresentation) for l in model.layers):
        return "ctn"
    if not getattr(model, "uses_palette", True):
        return "stn"
    if any(l.name.endswith("_encoder") for l in model.layers):
        return "mn"
    return "mhn"


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


def _representation_pairs(layer, blocks):
    code_length = layer.code_length
    # Row j of our first kernel reads code entry j (task j // code_length); take it from
    # the reference's column for that entry of the task's block.
    permutation = np.concatenate([
        np.arange(code_length) + blocks[k] * code_length for k in range(layer.num_tasks)
    ])
    pairs = []
    for i, dense in enumerate(layer.dense_layers):
        pairs += _dense_weights(dense, f"fcs.mapping.{2 * i + 1}", permutation if i == 0 else None)
    return pairs


def _task_layer(model, name):
    """`(task id, rest)` for a per-task layer name such as `semseg_decoder_4`, else None."""
    for k in range(getattr(model, "num_tasks", 0)):
        prefix = task_prefix(k)
        if name.startswith(prefix):
            return k, name[len(prefix):]
    return None


def _reference_pairs(model, kind, blocks):
    pairs = []
    for layer in model.layers:
        per_task = _task_layer(model, layer.name) if kind in ("mhn", "mn") else None
        if layer.name == "encoder":
            pairs += _encoder_pairs(layer, _reference_encoder_name)
        elif isinstance(layer, TaskRepresentation):
            pairs += _representation_pairs(layer, blocks)
        elif per_task and kind == "mn" and per_task[1] == "encoder":
            k = per_task[0]
            pairs += _encoder_pairs(layer, lambda n, k=k: f"encoders.{k}.{_reference_encoder_name(n)}")
        elif per_task and per_task[1] in REFERENCE_BLOCKS:
            k, block = per_task
            wrapper = "module." if kind == "mhn" else ""  # MHN wraps each decoder in nn.DataParallel
            pairs += _block_pairs(layer, f"decoders.{k}.{wrapper}{REFERENCE_BLOCKS[block]}")
        elif kind in ("ctn", "stn") and layer.name in REFERENCE_BLOCKS:
            pairs += _block_pairs(layer, REFERENCE_BLOCKS[layer.name])
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


def _load_reference(model, weights, codes):
    kind, theirs = model_kind(model), _reference_kind(weights)
    if kind != theirs:
        raise CheckpointMismatch(
            f"The checkpoint is the authors' {REFERENCE_MODELS[theirs]} ({theirs.upper()}), but "
            f"the model is a {kind.upper()}: build the matching model (--model={theirs})")
    blocks = None
    if kind == "ctn":
        layer = next(l for l in model.layers if isinstance(l, TaskRepresentation))
        blocks = code_blocks(codes, layer.num_tasks, layer.code_length)
    elif codes:  # their STN keeps the code of its one task; MHN and MN all five
        _check_code_names(codes, [model.task] if kind == "stn" else range(model.num_tasks))
    # Their STN is their CTN with `no_cond` blocks: it keeps the (unused) task MLP.
    ignore = (lambda k: k.startswith("fcs.")) if kind == "stn" else (lambda k: False)
    return _check_and_assign(_reference_pairs(model, kind, blocks), weights, ignore)


def checkpoint_tasks(state):
    """The task names whose codes a checkpoint carries (a Lightning `.ckpt` of theirs)."""
    return sorted(split_task_codes(state)[1])


def load_torch_state_dict(model, state):
    """Assigns a PyTorch state dict (from `read_state_dict`) to `model`; returns how many
    tensors were loaded.

    An ImageNet ResNet (torchvision or timm names) fills `model.encoder` (its `fc` is
    dropped); a checkpoint of the authors' code fills the whole model, its task codes
    (if any) giving the order of the CTN's code blocks.
    """
    weights, codes = split_task_codes(state)
    if is_reference_checkpoint(weights):
        return _load_reference(model, weights, codes)
    encoder = getattr(model, "encoder", model)
    if "conv1.weight" not in weights:
        raise CheckpointMismatch(
            "The checkpoint is neither a torchvision/timm ResNet (no 'conv1.weight') nor a "
            "CompositeTasking checkpoint (no 'layer1.0.weight' + 'layer5.0.conv1.weight', nor "
            f"'encoders.<id>.layer1.0.weight'). Its first keys: {_format(sorted(state))}"
        )
    return _check_and_assign(_encoder_pairs(encoder, _torchvision_name), weights,
                             lambda k: k.startswith("fc."))

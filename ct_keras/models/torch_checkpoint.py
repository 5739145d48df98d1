"""Reads a PyTorch checkpoint file into a flat `{name: np.ndarray}` state dict.

Accepted layouts (the authors' code writes the last one):
- a plain `state_dict` (`.pth`, `.pt`, `.bin`, or `.safetensors`, read without torch);
- the same wrapped by `nn.DataParallel` / DDP: every key starts with `module.`;
- a dict holding it under `state_dict`, `model_state_dict` or `model`;
- a PyTorch Lightning `.ckpt`: `state_dict` beside Lightning's bookkeeping (`epoch`,
  `global_step`, `optimizer_states`, `lr_schedulers`, `callbacks`, `hyper_parameters`,
  …), which is ignored. The authors' Lightning `System` holds the network as `model`
  and the task codes as `task_z_code_dict` (an `nn.ParameterDict` keyed by task name),
  so its keys are `model.<network key>` and `task_z_code_dict.<task name>`.

The result has the network's own keys (`model.` / `module.` dropped) and keeps the task
codes under `task_z_code_dict.<name>`.
"""

import os
import pickle
import re
import types

import numpy as np

CODE_PREFIX = "task_z_code_dict."
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model")
WRAPPER_PREFIXES = ("model.", "module.")
# Lightning ≤ 1.4 keys `callbacks` by the callback *class*, so the pickle names e.g.
# `pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint`. Only these names are
# let through the safe loader, as inert placeholders (they are dict keys, never called).
LIGHTNING_CALLBACK = re.compile(r"^(pytorch_lightning|lightning\.pytorch|lightning)\.callbacks\.[\w.]+$")
UNSAFE_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _placeholder(full_name):
    module, _, name = full_name.rpartition(".")
    return type(name, (), {"__module__": module, "__doc__": f"Stands in for {full_name}."})


def _torch_load_safe(torch, path):
    """`torch.load(weights_only=True)`, letting Lightning's callback classes through."""
    allowed = {}
    while True:
        try:
            if allowed and hasattr(torch.serialization, "safe_globals"):
                with torch.serialization.safe_globals([(v, k) for k, v in allowed.items()]):
                    return torch.load(path, map_location="cpu", weights_only=True)
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises UnpicklingError, RuntimeError, … for bad files
            found = UNSAFE_GLOBAL.search(str(e))
            name = found.group(1) if found else None
            if (name and LIGHTNING_CALLBACK.match(name) and name not in allowed
                    and hasattr(torch.serialization, "safe_globals") and len(allowed) < 16):
                allowed[name] = _placeholder(name)
                continue
            raise _LoadError(e, name) from None


class _TolerantUnpickler(pickle.Unpickler):
    """For trusted files: Lightning's callback classes need not be installed."""

    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            if LIGHTNING_CALLBACK.match(f"{module}.{name}"):
                return _placeholder(f"{module}.{name}")
            raise


_TOLERANT_PICKLE = types.ModuleType("ct_keras_tolerant_pickle")
_TOLERANT_PICKLE.Unpickler = _TolerantUnpickler
_TOLERANT_PICKLE.load = lambda file, **kwargs: _TolerantUnpickler(file, **kwargs).load()


class _LoadError(Exception):
    def __init__(self, error, global_name):
        super().__init__(str(error))
        self.error, self.global_name = error, global_name


def _torch_load(path, trust_checkpoint):
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"Reading {path} needs PyTorch (pip install 'ct_keras[torch]'), "
            "or convert it to .safetensors first"
        ) from None
    try:
        return _torch_load_safe(torch, path)
    except _LoadError as e:
        if e.global_name is None:
            raise ValueError(f"Cannot read checkpoint {path}: {e.error}") from None
        if not trust_checkpoint:
            raise ValueError(
                f"Checkpoint {path} pickles the Python object {e.global_name}, which the safe "
                "loader (torch.load weights_only=True) refuses; Lightning's own bookkeeping "
                "(callbacks, optimizer and scheduler states, hyper-parameters) is read without "
                "it. If you trust the file, retry with --trust_checkpoint (unpickling can run "
                "code)."
            ) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_TOLERANT_PICKLE)
    except ModuleNotFoundError as e:
        raise ValueError(f"Cannot read checkpoint {path}: unpickling it needs the module "
                         f"{e.name!r}, which is not installed") from None
    except Exception as e:  # noqa: BLE001 — torch raises many kinds for bad pickles
        raise ValueError(f"Cannot read checkpoint {path}: {e}") from None


def _strip_shared_prefixes(weights):
    changed = True
    while changed and weights:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in weights):
                weights = {k[len(prefix):]: v for k, v in weights.items()}
                changed = True
    return weights


def flatten_state(obj, path="<state>"):
    """A loaded checkpoint object → the flat state described in the module docstring."""
    if isinstance(obj, dict):
        for key in CONTAINER_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]  # everything beside it is bookkeeping
                break
    if not isinstance(obj, dict):
        raise ValueError(f"Checkpoint {path} holds no state dict (found {type(obj).__name__})")
    arrays = {}
    for key, value in obj.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray):
            arrays[str(key)] = value
    if not arrays:
        raise ValueError(f"Checkpoint {path} holds no tensors")
    # A whole DataParallel-wrapped System: `module.model.…`, `module.task_z_code_dict.…`.
    arrays = _strip_shared_prefixes(arrays) if all(k.startswith("module.") for k in arrays) else arrays
    codes = {k: v for k, v in arrays.items() if k.startswith(CODE_PREFIX)}
    weights = _strip_shared_prefixes({k: v for k, v in arrays.items() if k not in codes})
    return {**weights, **codes}


def read_state_dict(path, trust_checkpoint=False):
    """A checkpoint file → `{name: np.ndarray}` (see the module docstring for layouts).

    Pickled files are loaded with `weights_only=True`; Lightning's callback classes are
    let through by name. Anything else that pickles Python objects needs
    `trust_checkpoint` (pickles can run code: only for files you trust).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint {path} does not exist")
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        return flatten_state(load_file(path), path)
    return flatten_state(_torch_load(path, trust_checkpoint), path)

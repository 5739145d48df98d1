"""The authors' checkpoints, laid out as their code writes them, import exactly.

Each of CTN, STN, MHN and MN is read as a plain state_dict, DataParallel-wrapped, and as
their Lightning `.ckpt` (task codes beside `model.*`, Lightning's bookkeeping around it),
and must give the PyTorch network's outputs within 1e-4 (torch CPU needed).
"""

import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ct_keras.layers.image_normalization import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from ct_keras.models import CompositeTaskingNet, MultiHeadNet, MultiNet, SingleTaskNet  # noqa: E402
from ct_keras.models.torch_import import (  # noqa: E402
    CheckpointMismatch,
    checkpoint_tasks,
    load_torch_state_dict,
    read_state_dict,
)
from tests import reference_torch as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-4
# kind → (our model, its arguments, the task list their run was trained with)
KINDS = {
    "ctn": (CompositeTaskingNet, {}, ref.TASKS),
    "stn": (SingleTaskNet, {"task": "normals"}, ("normals",)),
    "mhn": (MultiHeadNet, {}, ref.TASKS),
    "mn": (MultiNet, {"num_tasks": 2}, ("seg", "parts")),  # five ResNets would be 90M weights
}
LAYOUTS = ("state_dict", "data_parallel", "lightning")


def _torch_image(image):
    x = (image / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))


def _palettes(rng, batch, size, num_tasks):
    mosaic = np.zeros((batch, size, size), np.int32)
    for b in range(batch):
        cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
        t = rng.choice(num_tasks, 4, replace=num_tasks < 4)
        mosaic[b, :cy, :cx], mosaic[b, :cy, cx:], mosaic[b, cy:, :cx], mosaic[b, cy:, cx:] = t
    return {"mosaic": mosaic, "random": rng.integers(0, num_tasks, (batch, size, size)).astype(np.int32)}


def _reference_outputs(net, kind, image, palettes):
    with torch.no_grad():
        if kind == "stn":
            return {"none": net(_torch_image(image)).numpy().transpose(0, 2, 3, 1)}
        return {name: net(_torch_image(image), torch.from_numpy(p)).numpy().transpose(0, 2, 3, 1)
                for name, p in palettes.items()}


def _our_outputs(model, kind, image, palettes):
    if kind == "stn":
        return {"none": model(image, training=False).numpy()}
    return {name: model({"image": image, "palette": p}, training=False).numpy()
            for name, p in palettes.items()}


def build_case(kind, depth, size, batch, seed, code_blocks=None):
    """Their System (calibrated BatchNorm statistics), its Lightning checkpoint, the
    network's outputs on an image and palettes, and a fresh model of ours."""
    cls, kwargs, task_list = KINDS[kind]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    num_tasks = len(task_list) if kind == "mn" else 5
    system = ref.ReferenceSystem(kind, depth, task_list, code_blocks=code_blocks)
    ref.strengthen_conditioning(system.model)
    calibration = []
    for _ in range(2):
        args = (_torch_image(rng.uniform(0, 255, (2, size, size, 3))),)
        if kind != "stn":
            args += (torch.from_numpy(rng.integers(0, num_tasks, (2, size, size))),)
        calibration.append(args)
    ref.calibrate_batch_norm(system.model, calibration)
    checkpoint = ref.lightning_checkpoint(system)  # one Adam step: read outputs after it
    system.model.eval()
    image = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    palettes = _palettes(rng, batch, size, num_tasks)
    model = cls(backbone=depth, image_size=size, **kwargs)
    return {"kind": kind, "system": system, "checkpoint": checkpoint, "image": image,
            "palettes": palettes, "expected": _reference_outputs(system.model, kind, image, palettes),
            "model": model, "initial": model.get_weights()}


def write_layout(case, layout, directory):
    state = case["system"].model.state_dict()
    if layout == "state_dict":
        path = os.path.join(directory, "net.pth")
        torch.save(state, path)
    elif layout == "data_parallel":
        path = os.path.join(directory, "net_dp.pth")
        torch.save(ref.wrap_data_parallel(state), path)
    else:
        path = os.path.join(directory, "epoch=99-step=49999.ckpt")
        ref.save_lightning_checkpoint(case["checkpoint"], path)
    return path


def assert_imports_exactly(case, path):
    model = case["model"]
    model.set_weights(case["initial"])  # a load that did nothing would fail below
    assert load_torch_state_dict(model, read_state_dict(path)) > 0
    got = _our_outputs(model, case["kind"], case["image"], case["palettes"])
    for name, expected in case["expected"].items():
        assert np.abs(expected).max() > 0.1, "the reference's output should not be trivial"
        diff = np.abs(got[name] - expected).max()
        assert diff <= TOLERANCE, f"{case['kind']} {os.path.basename(path)} {name}: {diff}"


@pytest.fixture(scope="module")
def small_cases():
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = build_case(kind, "resnet18", 64, 1, seed=len(cache))
        return cache[kind]

    return get


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.slow) if k == "mn" else k
                                  for k in KINDS])  # MN alone builds two whole nets per side
def test_every_layout_of_every_model_imports_exactly(small_cases, kind, layout, tmp_path):
    case = small_cases(kind)
    assert_imports_exactly(case, write_layout(case, layout, str(tmp_path)))


def test_lightning_checkpoint_is_laid_out_as_theirs(small_cases, tmp_path):
    case = small_cases("mhn")
    path = write_layout(case, "lightning", str(tmp_path))
    raw = ref.load_lightning_checkpoint(path)
    assert {"epoch", "global_step", "pytorch-lightning_version", "state_dict", "callbacks",
            "optimizer_states", "lr_schedulers", "hparams_name", "hyper_parameters"} <= set(raw)
    keys = list(raw["state_dict"])
    assert keys[:5] == [f"task_z_code_dict.{t}" for t in sorted(ref.TASKS)]
    assert "model.decoders.0.module.conv_last.weight" in keys and "model.layer5.0.conv1.weight" in keys
    (callback,) = raw["callbacks"]  # keyed by the callback's class, as Lightning 1.3 does
    assert f"{callback.__module__}.{callback.__name__}" == \
        "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
    assert isinstance(raw["optimizer_states"][0]["state"], dict) and raw["optimizer_states"][0]["state"]
    assert raw["hyper_parameters"]["model_cfg"]["which_model"] == "multi_head_net_v0"
    flat = read_state_dict(path)  # weights_only=True: no --trust_checkpoint needed
    assert "decoders.0.module.conv_last.weight" in flat and "task_z_code_dict.seg" in flat
    assert not any(k.startswith(("model.", "epoch", "optimizer")) for k in flat)
    np.testing.assert_array_equal(np.flatnonzero(flat["task_z_code_dict.normals"]), np.arange(60, 80))


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_resnet34_at_256_lightning_checkpoint_imports_exactly(kind, tmp_path):
    # The CTN with a batch of two on both palettes; the others one image each.
    case = build_case(kind, "resnet34", 256, 2 if kind == "ctn" else 1, seed=10)
    if kind != "ctn":
        case["palettes"].pop("mosaic")
        case["expected"].pop("mosaic", None)
    assert_imports_exactly(case, write_layout(case, "lightning", str(tmp_path)))


def test_code_order_stored_in_the_checkpoint_is_honoured(tmp_path):
    blocks = {"seg": 3, "parts": 0, "edges": 4, "normals": 2, "saliency": 1}
    case = build_case("ctn", "resnet18", 64, 1, seed=7, code_blocks=blocks)
    assert_imports_exactly(case, write_layout(case, "lightning", str(tmp_path)))
    # Without the codes the reference's usual order is assumed: the outputs then differ.
    model = case["model"]
    load_torch_state_dict(model, read_state_dict(write_layout(case, "state_dict", str(tmp_path))))
    got = _our_outputs(model, "ctn", case["image"], case["palettes"])
    assert np.abs(got["mosaic"] - case["expected"]["mosaic"]).max() > 1e-2


def test_task_codes_that_are_not_block_codes_are_rejected(small_cases, tmp_path):
    case = small_cases("ctn")
    state = read_state_dict(write_layout(case, "lightning", str(tmp_path)))
    bad = dict(state, **{"task_z_code_dict.parts": np.linspace(0.1, 1.0, 100, dtype=np.float32)})
    with pytest.raises(CheckpointMismatch, match=r"task_z_code_dict\.parts is not a one-block task code"):
        load_torch_state_dict(case["model"], bad)
    shared = dict(state, **{"task_z_code_dict.parts": state["task_z_code_dict.seg"]})
    with pytest.raises(CheckpointMismatch, match="share blocks"):
        load_torch_state_dict(case["model"], shared)
    missing = {k: v for k, v in state.items() if k != "task_z_code_dict.edges"}
    with pytest.raises(CheckpointMismatch, match=r"missing task_z_code_dict\.edges"):
        load_torch_state_dict(case["model"], missing)


def test_missing_or_misshaped_keys_are_named_and_change_nothing(small_cases, tmp_path):
    case = small_cases("mhn")
    model = case["model"]
    model.set_weights(case["initial"])
    before = model.get_weights()
    ckpt = case["checkpoint"]
    state_dict = OrderedDict(ckpt["state_dict"])
    del state_dict["model.decoders.3.module.regular_2_cond.conv1.weight"]
    state_dict["model.decoders.0.module.conv_last.weight"] = torch.zeros(5, 64, 1, 1)
    state_dict["model.decoders.7.module.conv_last.bias"] = torch.zeros(3)
    path = str(tmp_path / "bad.ckpt")
    ref.save_lightning_checkpoint(dict(ckpt, state_dict=state_dict), path)
    with pytest.raises(CheckpointMismatch) as error:
        load_torch_state_dict(model, read_state_dict(path))
    message = str(error.value)
    assert "missing from the checkpoint: decoders.3.module.regular_2_cond.conv1.weight" in message
    assert "decoders.0.module.conv_last.weight: checkpoint (1, 1, 64, 5)" in message
    assert "not used by the model: decoders.7.module.conv_last.bias" in message
    for b, a in zip(before, model.get_weights()):
        np.testing.assert_array_equal(b, a)


def test_a_checkpoint_of_another_model_or_task_says_so(small_cases, tmp_path):
    mhn_state = read_state_dict(write_layout(small_cases("mhn"), "lightning", str(tmp_path)))
    with pytest.raises(CheckpointMismatch, match=r"MultiHeadNetV0 \(MHN\).*--model=mhn"):
        load_torch_state_dict(small_cases("ctn")["model"], mhn_state)
    stn = small_cases("stn")
    state = read_state_dict(write_layout(stn, "lightning", str(tmp_path)))
    assert checkpoint_tasks(state) == ["normals"]  # what the tool builds the STN for
    state["task_z_code_dict.seg"] = state.pop("task_z_code_dict.normals")
    with pytest.raises(CheckpointMismatch, match=r"\['normals'\].*missing task_z_code_dict\.normals"):
        load_torch_state_dict(stn["model"], state)


def test_other_pickled_objects_need_trust_checkpoint(small_cases, tmp_path):
    import argparse
    import types

    case = small_cases("stn")
    ckpt = dict(case["checkpoint"], hyper_parameters=argparse.Namespace(lr=1e-3))
    path = str(tmp_path / "namespace.ckpt")
    ref.save_lightning_checkpoint(ckpt, path)
    with pytest.raises(ValueError, match=r"argparse\.Namespace.*--trust_checkpoint"):
        read_state_dict(path)
    trusted = read_state_dict(path, trust_checkpoint=True)
    plain = read_state_dict(write_layout(case, "lightning", str(tmp_path)))
    assert set(trusted) == set(plain)
    for key in plain:
        np.testing.assert_array_equal(trusted[key], plain[key])

    module = types.ModuleType("ct_keras_test_gone")
    module.Thing = type("Thing", (), {"__module__": "ct_keras_test_gone"})
    sys.modules["ct_keras_test_gone"] = module
    try:
        ref.save_lightning_checkpoint(dict(ckpt, hyper_parameters=module.Thing()), path)
    finally:
        del sys.modules["ct_keras_test_gone"]
    with pytest.raises(ValueError, match="needs the module 'ct_keras_test_gone'"):
        read_state_dict(path, trust_checkpoint=True)


def _run_tool(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "import_torch_checkpoint.py"),
                           *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_import_tool_on_a_lightning_checkpoint(small_cases, tmp_path):
    case = small_cases("ctn")
    ckpt = write_layout(case, "lightning", str(tmp_path))
    out = tmp_path / "w" / "ctn.weights.h5"
    result = _run_tool(f"--checkpoint={ckpt}", "--model=ctn", "--backbone=resnet18",
                       "--image_size=64", f"--out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote" in result.stdout and out.exists()
    model = CompositeTaskingNet(backbone="resnet18", image_size=64)
    model.load_weights(str(out))
    got = _our_outputs(model, "ctn", case["image"], case["palettes"])
    for name, expected in case["expected"].items():
        assert np.abs(got[name] - expected).max() <= TOLERANCE, name

    # Their STN checkpoint names its task: --task may be left out, and must not contradict it.
    stn = write_layout(small_cases("stn"), "lightning", str(tmp_path))
    result = _run_tool(f"--checkpoint={stn}", "--model=stn", "--backbone=resnet18", "--image_size=64",
                       f"--out={tmp_path / 'stn.weights.h5'}")
    assert result.returncode == 0 and "wrote" in result.stdout, result.stderr[-2000:]
    result = _run_tool(f"--checkpoint={stn}", "--model=stn", "--task=semseg", "--backbone=resnet18",
                       "--image_size=64", f"--out={tmp_path / 'stn2.weights.h5'}")
    assert result.returncode != 0 and "missing task_z_code_dict.seg" in result.stderr
    assert "Traceback" not in result.stderr

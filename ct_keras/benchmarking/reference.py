"""The authors' PyTorch CTN (`CompositeTaskingNetV0`), imported from a checkout of their
repository that the user points to; none of its code is part of this project.

Shims, only where their imports cannot be met as they are:
- torchvision: their encoder calls `torchvision.models.resnet.resnet34(...)`. When
  `import torchvision` fails (the PyPI wheel's compiled detection ops are built for
  CUDA torch and do not load into a CPU-only torch), the modules `torchvision` and
  `torchvision.models` are registered as empty packages over the installed
  torchvision's folders, so that `torchvision/models/resnet.py` and the pure-Python
  modules it imports run unchanged and its compiled ops are never loaded. The ResNet
  is torchvision's own code.
- Nothing else: the model's modules import only torch, torchvision, numpy and the
  standard library (no pytorch_lightning, wandb or data code is imported).

The model is configured from their paper config (`R1r_CTN.yaml`), with
`encoder_pre_trained` off (no download; the weights are set by the caller).
"""

import importlib
import importlib.util
import os
import sys
import types

import numpy as np

from ct_keras.layers.image_normalization import IMAGENET_MEAN, IMAGENET_STD
from ct_keras.models.torch_import import REFERENCE_CODE_BLOCK

MODEL_MODULE = "src.models.original_implementation.composit_tasking_net.model"
CONFIG = os.path.join("run_training", "configs", "composite_tasking_paper", "R1r_CTN.yaml")
MODEL_KEYS = ("which_cond", "cond_cfg_txt", "n_fc_z_map", "latent_w_dim", "skip_conv_ks",
              "dec_conv_ks", "net_output_ch", "encoder_arch", "task_code_len")


def _scalar(text):
    text = text.split("#", 1)[0].strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def read_config(repo):
    """The model keys of their paper's R1r CTN config (flat `key: value` YAML lines)."""
    path = os.path.join(repo, CONFIG)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--reference_repo: {path} not found (is {repo} a checkout of "
                                "the authors' composite-tasking repository?)")
    config = {}
    with open(path) as f:
        for line in f:
            if ":" in line and not line[0].isspace() and not line.startswith("#"):
                key, value = line.split(":", 1)
                if key.strip() in MODEL_KEYS:
                    config[key.strip()] = _scalar(value)
    missing = [k for k in MODEL_KEYS if k not in config]
    if missing:
        raise ValueError(f"--reference_repo: {path} lacks {missing}")
    return config


def _import_torchvision():
    """Returns a note saying whether torchvision was imported as is or shimmed."""
    try:
        import torchvision  # noqa: F401

        return "torchvision imported as is"
    except ImportError:
        pass
    except RuntimeError:  # its compiled ops failed to register (CUDA wheel, CPU torch)
        pass
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        raise ImportError("The authors' model needs torchvision: pip install torchvision")
    root = os.path.dirname(spec.origin)
    for name, folder in (("torchvision", root), ("torchvision.models", os.path.join(root, "models"))):
        package = types.ModuleType(name)
        package.__path__ = [folder]
        sys.modules[name] = package
    resnet = importlib.import_module("torchvision.models.resnet")
    sys.modules["torchvision"].models = sys.modules["torchvision.models"]
    sys.modules["torchvision.models"].resnet = resnet
    return ("torchvision shimmed: `torchvision` and `torchvision.models` are empty packages over "
            f"{root}, so only its pure-Python resnet.py (and what that imports) runs")


def load_reference_ctn(repo, seed=0, encoder_arch=None):
    """`(model, notes)`: their `CompositeTaskingNetV0`, randomly initialised from `seed`,
    in eval mode, as their paper config builds it (with `encoder_arch`, e.g. "resnet18",
    in place of the config's ResNet34 when given)."""
    import torch

    repo = os.path.abspath(repo)
    if not os.path.isfile(os.path.join(repo, *MODEL_MODULE.split(".")) + ".py"):
        raise FileNotFoundError(f"--reference_repo: {repo} has no {MODEL_MODULE.replace('.', '/')}.py")
    config = read_config(repo)
    if encoder_arch:
        config["encoder_arch"] = encoder_arch
    notes = [_import_torchvision()]
    sys.path.insert(0, repo)
    try:
        module = importlib.import_module(MODEL_MODULE)
    finally:
        sys.path.remove(repo)
    if not os.path.abspath(module.__file__).startswith(repo):
        raise ImportError(f"{MODEL_MODULE} came from {module.__file__}, not from {repo}")
    code_length = config.pop("task_code_len")
    codes = {}
    for task, block in REFERENCE_CODE_BLOCK.items():
        z = torch.zeros(len(REFERENCE_CODE_BLOCK) * code_length)
        z[block * code_length:(block + 1) * code_length] = 1.0
        codes[task] = z
    torch.manual_seed(seed)
    model = module.CompositeTaskingNetV0(dict(config, encoder_pre_trained=False), codes)
    notes.append(f"{type(model).__name__} from {module.__file__}, config {CONFIG}: "
                 + ", ".join(f"{k}={v}" for k, v in sorted(config.items())))
    return model.eval(), notes


def normalise(images):
    """float32 NHWC 0..255 → ImageNet-normalised NCHW, as their data pipeline feeds it."""
    mean = np.asarray(IMAGENET_MEAN, "float32") * 255.0
    std = np.asarray(IMAGENET_STD, "float32") * 255.0
    return np.ascontiguousarray(((images - mean) / std).transpose(0, 3, 1, 2))


def calibrate_batch_norm(model, images, palettes):
    """Gives every BatchNorm running statistics of real activations (a few train-mode
    passes with a cumulative average), so that the outputs compared are not dominated
    by untrained BN (mean 0, variance 1) blowing activations up."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for image, palette in zip(images, palettes):
            palette = torch.from_numpy(palette)
            model.forward_composite_task(torch.from_numpy(normalise(image)), palette,
                                         torch.unique(palette).tolist())
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def forward_fn(model):
    """`f(image NHWC 0..255, palette) → NHWC numpy`; times their forward on input already
    normalised and laid out NCHW, as their data loader hands it over."""
    import torch

    def forward(image_nchw, palette):
        with torch.inference_mode():
            ids = torch.unique(palette).tolist()
            return model.forward_composite_task(image_nchw, palette, ids)

    def prepare(image, palette):
        image_t = torch.from_numpy(normalise(image))
        palette_t = torch.from_numpy(palette.astype("int64"))
        return lambda: forward(image_t, palette_t).numpy().transpose(0, 2, 3, 1)

    return prepare


def onnxruntime_fn(model, threads):
    """`prepare(image, palette) → f()`, like `forward_fn`, running their model as a practitioner
    would deploy it: exported with `torch.onnx.export` (TorchScript tracing, the task ids of
    that palette fixed, as their forward takes them from it) and run by onnxruntime's CPU
    provider on `threads` threads. `Unavailable` when onnxruntime or onnx is missing."""
    import tempfile

    import torch

    from ct_keras.benchmarking.unavailable import Unavailable

    try:
        import onnx  # noqa: F401 — torch.onnx.export needs it
        import onnxruntime
    except ImportError as e:
        raise Unavailable(f"needs onnxruntime and onnx ({e}): pip install onnxruntime onnx") from None

    class Composite(torch.nn.Module):
        def __init__(self, ids):
            super().__init__()
            self.model, self.ids = model, ids

        def forward(self, image, palette):
            return self.model.forward_composite_task(image, palette, self.ids)

    def prepare(image, palette):
        image_nchw = normalise(image)
        palette64 = palette.astype("int64")
        ids = sorted(int(i) for i in np.unique(palette64))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "ctn.onnx")
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(Composite(ids).eval(), (torch.from_numpy(image_nchw), torch.from_numpy(palette64)),
                                  path, input_names=["image", "palette"], output_names=["output"],
                                  dynamo=False, opset_version=17)
            session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {"image": image_nchw, "palette": palette64}
        return lambda: session.run(None, feed)[0].transpose(0, 2, 3, 1)

    return prepare


def state_dict_numpy(model):
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}

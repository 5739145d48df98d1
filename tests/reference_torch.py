"""A PyTorch re-creation of the authors' networks and of the checkpoints their code writes,
for the tests; written by us from reading their code (nikola3794/composite-tasking), not
copied from it.

- `ReferenceCTN` is `CompositeTaskingNetV0` (src/models/original_implementation/
  composit_tasking_net/model.py), with `conditioned=False` their STN (the same class
  with `which_cond: no_cond`, configs ST_*_STN.yaml); `ReferenceMHN` is `MultiHeadNetV0`
  (each decoder an `nn.DataParallel`, keyed `str(task_id)`), `ReferenceMN` `MultiNetV0`
  (`decoders`, then `encoders`, keyed `str(task_id)`).
- `ReferenceSystem` is the state their Lightning `System` (src/systems/system.py) holds:
  `task_z_code_dict`, an `nn.ParameterDict` keyed by task name (made by the data set:
  src/data_sets/pascal_mt/data_set.py, `_create_task_codes`), then `model`, the network
  built with the codes re-keyed by task id (`System._create_model`). Its losses and
  metrics hold no persistent state.
- `lightning_checkpoint` / `save_lightning_checkpoint` write what Lightning 1.3's
  `ModelCheckpoint` writes for it (`CheckpointConnector.dump_checkpoint`).

Module names follow theirs so that state_dict keys are theirs; torchvision is not
installed here, so the ResNet is rebuilt with torchvision's names.
"""

import contextlib
import sys
import types
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

BLOCKS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """torchvision's ResNet names: conv1, bn1, relu, maxpool, layer1-4, avgpool, fc."""

    def __init__(self, depth="resnet34"):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (planes, n) in enumerate(zip([64, 128, 256, 512], BLOCKS[depth])):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, planes, 2 if (b == 0 and i > 0) else 1))
                cin = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# Their task ids (src/data_sets/pascal_mt/metadata.py TASK_TO_ID; the same as ours) and
# the block of z their data set gives each task (`_create_task_codes`).
TASK_TO_ID = {"seg": 0, "parts": 1, "edges": 2, "saliency": 3, "normals": 4}
CODE_BLOCK = {"seg": 0, "parts": 1, "edges": 2, "normals": 3, "saliency": 4}
TASKS = tuple(TASK_TO_ID)


def make_task_codes(task_list=TASKS, code_length=20, blocks=None):
    """`task_z_code_dict` as their data set makes it: z of 5·code_length zeros, ones on the
    task's block (not normalised: the network does that), in an `nn.ParameterDict`. Torch
    1.7 (theirs) stored a plain dict's keys sorted."""
    blocks = CODE_BLOCK if blocks is None else blocks
    codes = OrderedDict()
    for name in sorted(task_list):
        z = torch.zeros(5 * code_length)
        z[blocks[name] * code_length:(blocks[name] + 1) * code_length] = 1.0
        codes[name] = nn.Parameter(z, requires_grad=False)
    return nn.ParameterDict(codes)


def codes_by_id(task_z_code_dict):
    """`System._create_model`: the same codes keyed by task id."""
    return {TASK_TO_ID[name]: z for name, z in task_z_code_dict.items()}


class SpatialAffineCond(nn.Module):
    def __init__(self, w_dim, channels, hidden):
        super().__init__()
        self.conv_shared = nn.Sequential(nn.Conv2d(w_dim, hidden, 1), nn.LeakyReLU())
        self.param_free_norm = nn.BatchNorm2d(channels, affine=False)
        self.transform_gamma = nn.Conv2d(hidden, channels, 1)
        self.transform_beta = nn.Conv2d(hidden, channels, 1)
        self.transform_beta.bias.data[:] = 0
        self.transform_gamma.bias.data[:] = 1

    def forward(self, x, pyramid, stride):
        s = self.conv_shared(pyramid[stride])
        return self.param_free_norm(x) * self.transform_gamma(s) + self.transform_beta(s)


class CondBlock(nn.Module):
    def __init__(self, cin, cout, ks, hidden, w_dim=128):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, ks, padding=ks // 2)
        self.spatial_cond = SpatialAffineCond(w_dim, cout, hidden)
        self.lrelu = nn.LeakyReLU()

    def forward(self, x, pyramid, stride):
        return self.lrelu(self.spatial_cond(self.conv1(x), pyramid, stride))


class NoCondBlock(nn.Module):
    def __init__(self, cin, cout, ks, hidden=None, w_dim=None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, ks, padding=ks // 2)
        self.batch_norm = nn.BatchNorm2d(cout)
        self.lrelu = nn.LeakyReLU()

    def forward(self, x, pyramid=None, stride=None):
        return self.lrelu(self.batch_norm(self.conv1(x)))


class Decoder(nn.Module):
    """Skips and decoder of the reference, with its module names."""

    def __init__(self, block):
        super().__init__()
        e = {1: 64, 2: 64, 3: 128, 4: 256, 5: 512}
        h = {1: 128, 2: 128, 4: 128, 8: 256, 16: 256, 32: 256}
        self.skip_orig_img_cond_pt0 = block(3, 64, 3, h[1])
        self.skip_orig_img_cond_pt1 = block(64, 64, 3, h[1])
        for lvl, s in zip(range(1, 6), (2, 4, 8, 16, 32)):
            setattr(self, f"skip_{lvl}_cond", block(e[lvl], e[lvl], 1, h[s]))
        self.regular_4_cond = block(e[4] + 512, 512, 3, h[16])
        self.regular_3_cond = block(e[3] + 512, 256, 3, h[8])
        self.regular_2_cond = block(e[2] + 256, 256, 3, h[4])
        self.regular_1_cond = block(e[1] + 256, 128, 3, h[2])
        self.final_cond_0 = block(e[1] + 128, 64, 3, h[1])
        self.conv_last = nn.Conv2d(64, 3, 1)

    def forward(self, enc, pyr=None):
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=True)
        img = self.skip_orig_img_cond_pt1(self.skip_orig_img_cond_pt0(enc[0], pyr, 1), pyr, 1)
        skips = {l: getattr(self, f"skip_{l}_cond")(enc[l], pyr, 2**l) for l in range(1, 6)}
        x = up(skips[5])
        x = up(self.regular_4_cond(torch.cat([x, skips[4]], 1), pyr, 16))
        x = up(self.regular_3_cond(torch.cat([x, skips[3]], 1), pyr, 8))
        x = up(self.regular_2_cond(torch.cat([x, skips[2]], 1), pyr, 4))
        x = up(self.regular_1_cond(torch.cat([x, skips[1]], 1), pyr, 2))
        x = self.final_cond_0(torch.cat([x, img], 1), pyr, 1)
        return self.conv_last(x)


class Encoder(nn.Module):
    """The reference's wrapping of torchvision's children into layer1 … layer5."""

    def __init__(self, depth):
        super().__init__()
        r = ResNet(depth)
        self.layer1 = nn.Sequential(r.conv1, r.bn1, r.relu)
        self.layer2 = nn.Sequential(r.maxpool, r.layer1)
        self.layer3, self.layer4, self.layer5 = r.layer2, r.layer3, r.layer4

    def encode(self, x):
        out = [x]
        for i in range(1, 6):
            out.append(getattr(self, f"layer{i}")(out[-1]))
        return out

    forward = encode


class VectorL2Normalize(nn.Module):
    def forward(self, z):
        return z / z.norm(p=2, dim=0).detach()


class IntermediateGenerator(nn.Module):
    """Their task MLP: `mapping` = (L2 normalise, Linear + LeakyReLU(0.2) × n)."""

    def __init__(self, n_fc, input_dim, output_dim):
        super().__init__()
        layers = [VectorL2Normalize(), nn.Linear(input_dim, output_dim), nn.LeakyReLU(0.2)]
        for _ in range(n_fc - 1):
            layers += [nn.Linear(output_dim, output_dim), nn.LeakyReLU(0.2)]
        self.mapping = nn.Sequential(*layers)

    def forward(self, z):
        return self.mapping(z)


def _palette_select(palette, outputs, like):
    """MHN/MN: each task's output where the palette names it, -1 elsewhere."""
    out = -torch.ones_like(like)
    for task_id, logits in outputs.items():
        out = torch.where((palette == task_id).unsqueeze(1), logits, out)
    return out


class ReferenceCTN(Encoder):
    """CompositeTaskingNetV0 (conditioned) or, with `conditioned=False`, their STN.

    `task_codes`: `{task id: z}` as `System._create_model` passes them (default: the five
    tasks' codes of their data set). They are a plain attribute, as theirs: the network's
    state_dict does not hold them (the System's does).
    """

    def __init__(self, depth="resnet34", conditioned=True, task_codes=None):
        super().__init__(depth)
        self.task_z_code_dict = codes_by_id(make_task_codes()) if task_codes is None else task_codes
        z_dim = next(iter(self.task_z_code_dict.values())).shape[0]
        self.fcs = IntermediateGenerator(6, z_dim, 128)
        dec = Decoder(CondBlock if conditioned else NoCondBlock)
        for name, module in dec.named_children():
            setattr(self, name, module)
        self._decoder_forward = Decoder.forward.__get__(self)
        self.conditioned = conditioned

    def forward(self, x, palette=None):
        enc = self.encode(x)
        pyramid = None
        if self.conditioned:
            spat = torch.zeros(x.shape[0], 128, x.shape[2], x.shape[3])
            for task_id, z in self.task_z_code_dict.items():
                w = self.fcs(z.clone().detach())
                mask = (palette == task_id).unsqueeze(1)
                spat = torch.where(mask, w.view(1, -1, 1, 1).expand_as(spat), spat)
            pyramid = {1: spat}
            for s in (2, 4, 8, 16, 32):
                prev = pyramid[s // 2]
                pyramid[s] = F.interpolate(prev, size=(prev.shape[2] // 2, prev.shape[3] // 2),
                                           mode="bilinear")
        return self._decoder_forward(enc, pyramid)


class ReferenceMHN(Encoder):
    """MultiHeadNetV0: the encoder, then `decoders[str(task_id)]`, each an `nn.DataParallel`."""

    def __init__(self, depth="resnet34", task_codes=None):
        super().__init__(depth)
        self.task_z_code_dict = codes_by_id(make_task_codes()) if task_codes is None else task_codes
        self.decoders = nn.ModuleDict({str(k): nn.DataParallel(Decoder(NoCondBlock))
                                       for k in self.task_z_code_dict})

    def forward(self, x, palette):
        enc = self.encode(x)
        return _palette_select(palette, {int(k): d(enc) for k, d in self.decoders.items()}, x)


class ReferenceMN(nn.Module):
    """MultiNetV0: `decoders[str(task_id)]` then `encoders[str(task_id)]`, no wrapping."""

    def __init__(self, depth="resnet34", task_codes=None):
        super().__init__()
        self.task_z_code_dict = codes_by_id(make_task_codes()) if task_codes is None else task_codes
        self.decoders = nn.ModuleDict({str(k): Decoder(NoCondBlock) for k in self.task_z_code_dict})
        self.encoders = nn.ModuleDict({str(k): Encoder(depth) for k in self.task_z_code_dict})

    def forward(self, x, palette):
        outputs = {int(k): self.decoders[k](self.encoders[k](x)) for k in self.decoders}
        return _palette_select(palette, outputs, x)


MODELS = {"ctn": ReferenceCTN, "stn": ReferenceCTN, "mhn": ReferenceMHN, "mn": ReferenceMN}
WHICH_MODEL = {"ctn": "composite_tasking_net_v0", "stn": "composite_tasking_net_v0",
               "mhn": "multi_head_net_v0", "mn": "multi_net_v0"}


class ReferenceSystem(nn.Module):
    """The state of their Lightning `System`: `task_z_code_dict` (by name), then `model`."""

    def __init__(self, kind, depth="resnet18", task_list=TASKS, code_blocks=None):
        super().__init__()
        self.kind, self.depth, self.task_list = kind, depth, tuple(task_list)
        self.task_z_code_dict = make_task_codes(task_list, blocks=code_blocks)
        kwargs = {"conditioned": kind == "ctn"} if kind in ("ctn", "stn") else {}
        self.model = MODELS[kind](depth, task_codes=codes_by_id(self.task_z_code_dict), **kwargs)

    def hyper_parameters(self):
        """The `cfg` dict their System saves with `save_hyperparameters(cfg)` (abridged)."""
        return {
            "setup_cfg": {"project_name": "CompositeTasking", "exp_main_dir": "/exp/run",
                          "which_system": "single_tasking" if self.kind == "stn" else "composite_tasking"},
            "data_set_cfg": {"data_root": "/data/PASCAL_MT", "img_size": (256, 256),
                             "palette_mode": "single_task" if self.kind == "stn" else "rnd_4_mosaic",
                             "task_code_len": 20, "task_list": list(self.task_list)},
            "model_cfg": {"which_model": WHICH_MODEL[self.kind], "encoder_arch": self.depth,
                          "encoder_pre_trained": True, "decoder_arch": "None", "n_fc_z_map": 6,
                          "latent_w_dim": 128, "cond_cfg_txt": "cond_batch1x1",
                          "which_cond": "task_composition_v0" if self.kind == "ctn" else "no_cond",
                          "skip_conv_ks": 1, "dec_conv_ks": 3, "net_output_ch": 3},
            "training_cfg": {"optimizer": "adam", "lr": 0.001, "lr_div_encoder": 100.0,
                             "lr_scheduler": "multi_step_1", "lr_scheduler_factor": 0.3,
                             "wd": 1e-05, "b_size": 10, "pl_max_epochs": 100, "seg_l_w": 3.0,
                             "parts_l_w": 4.0, "edges_l_w": 50.0, "saliency_l_w": 8.0,
                             "normals_l_w": 4.0, "seg_l_focal_gamma": 2.0, "pl_precision": 32},
        }


def wrap_data_parallel(state_dict):
    """The keys `nn.DataParallel(net).state_dict()` has: `module.` in front of each."""
    return OrderedDict((f"module.{k}", v) for k, v in state_dict.items())


def lightning_checkpoint(system, epoch=99, global_step=49999):
    """The dict Lightning 1.3's ModelCheckpoint saves for `system`: its state_dict beside
    epoch/step, the callbacks' states, the Adam and MultiStepLR states (their paper
    configs: two groups, encoder lr / 100) and the hyper-parameters. The optimizer takes
    one step with gradients on the heads only (Adam keeps state for those), so its state
    holds tensors as a trained one does without tripling the file; call it before reading
    the network's outputs."""
    encoder = [p for n, p in system.model.named_parameters() if n.startswith(("layer", "encoders."))]
    decoder = [p for n, p in system.model.named_parameters() if not n.startswith(("layer", "encoders."))]
    optimizer = torch.optim.Adam([{"params": encoder, "lr": 1e-5, "weight_decay": 1e-5},
                                  {"params": decoder, "lr": 1e-3, "weight_decay": 1e-5}])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[60, 80, 94], gamma=0.3)
    optimizer.zero_grad()
    heads = [p for n, p in system.model.named_parameters() if "conv_last" in n]
    sum(p.square().sum() for p in heads).backward()
    optimizer.step()
    scheduler.step()
    dirpath = "/exp/run"
    return {
        "epoch": epoch,
        "global_step": global_step,
        "pytorch-lightning_version": "1.3.5",
        "state_dict": system.state_dict(),
        "callbacks": {"ModelCheckpoint": {
            "monitor": None, "best_model_score": None, "current_score": None, "dirpath": dirpath,
            "best_model_path": f"{dirpath}/epoch={epoch}-step={global_step}.ckpt"}},
        "optimizer_states": [optimizer.state_dict()],
        "lr_schedulers": [scheduler.state_dict()],
        "hparams_name": "cfg",
        "hyper_parameters": system.hyper_parameters(),
    }


@contextlib.contextmanager
def lightning_stand_in():
    """pytorch_lightning is not installed here: while this is active, a stand-in
    `pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint` class is importable
    (a real installation is left alone). Yields that class."""
    names = ("pytorch_lightning", "pytorch_lightning.callbacks",
             "pytorch_lightning.callbacks.model_checkpoint")
    added = [n for n in names if n not in sys.modules]
    for n in added:
        sys.modules[n] = types.ModuleType(n)
    module = sys.modules[names[-1]]
    if getattr(module, "ModelCheckpoint", None) is None:
        module.ModelCheckpoint = type("ModelCheckpoint", (), {"__module__": names[-1]})
    try:
        yield module.ModelCheckpoint
    finally:
        for n in added:
            del sys.modules[n]


def save_lightning_checkpoint(checkpoint, path):
    """Writes `checkpoint` as Lightning 1.3 does: `callbacks` keyed by the callback *class*,
    pickled by reference as pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint,
    exactly as a real one names it."""
    with lightning_stand_in() as cls:
        callbacks = {cls if k == "ModelCheckpoint" else k: v for k, v in checkpoint["callbacks"].items()}
        torch.save(dict(checkpoint, callbacks=callbacks), path)


def load_lightning_checkpoint(path):
    """The whole pickled dict (unsafe `weights_only=False`: for the tests' own files)."""
    with lightning_stand_in():
        return torch.load(path, map_location="cpu", weights_only=False)


def strengthen_conditioning(model, bound=0.3):
    """At PyTorch's default init the six-layer task MLP shrinks its output to almost
    nothing and γ/β barely depend on the task (γ ≈ 1, β ≈ 0). He-initialise the MLP and
    widen the γ/β convs so that, as in a trained net, each task's output differs (a
    swapped code shows)."""
    for m in model.modules():
        if isinstance(m, IntermediateGenerator):
            for layer in m.mapping:
                if isinstance(layer, nn.Linear):
                    nn.init.normal_(layer.weight, 0.0, (2.0 / layer.in_features) ** 0.5)
        if isinstance(m, SpatialAffineCond):
            nn.init.uniform_(m.transform_gamma.weight, -bound, bound)
            nn.init.uniform_(m.transform_beta.weight, -bound, bound)


def calibrate_batch_norm(model, batches):
    """Gives every BatchNorm realistic, non-trivial running statistics."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
            if m.affine:
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -0.2, 0.2)
    model.train()
    with torch.no_grad():
        for args in batches:
            model(*args)
    model.eval()

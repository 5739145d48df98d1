"""A PyTorch re-creation of the reference's layer structure (CompositeTaskingNetV0 and its
STN / MHN variants), written for the tests from the architecture in DESIGN §2.

Module names follow the reference so that its state_dict keys are the reference's keys;
torchvision is not installed here, so the ResNet is rebuilt with torchvision's names.
"""

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


# The reference's code blocks: seg, parts, edges, normals, saliency (ours: ids 0 … 4).
REFERENCE_BLOCK_OF_TASK = {0: 0, 1: 1, 2: 2, 3: 4, 4: 3}


class ReferenceCTN(Encoder):
    """CompositeTaskingNetV0 (conditioned) or, with `conditioned=False`, its STN."""

    def __init__(self, depth="resnet34", conditioned=True, num_tasks=5, code_length=20):
        super().__init__(depth)
        layers = [nn.Identity(), nn.Linear(num_tasks * code_length, 128), nn.LeakyReLU(0.2)]
        for _ in range(5):
            layers += [nn.Linear(128, 128), nn.LeakyReLU(0.2)]
        self.fcs = nn.Module()
        self.fcs.mapping = nn.Sequential(*layers)
        codes = torch.zeros(num_tasks, num_tasks * code_length)
        for k in range(num_tasks):
            b = REFERENCE_BLOCK_OF_TASK[k]
            codes[k, b * code_length:(b + 1) * code_length] = 1.0
        self.register_buffer("codes", codes / codes.norm(dim=1, keepdim=True), persistent=False)
        dec = Decoder(CondBlock if conditioned else NoCondBlock)
        for name, module in dec.named_children():
            setattr(self, name, module)
        self._decoder_forward = Decoder.forward.__get__(self)
        self.conditioned = conditioned

    def forward(self, x, palette=None):
        enc = self.encode(x)
        pyramid = None
        if self.conditioned:
            w = self.fcs.mapping(self.codes)  # [K, 128]
            spat = torch.zeros(x.shape[0], 128, x.shape[2], x.shape[3])
            for k in range(w.shape[0]):
                mask = (palette == k).unsqueeze(1)
                spat = torch.where(mask, w[k].view(1, -1, 1, 1).expand_as(spat), spat)
            pyramid = {1: spat}
            for s in (2, 4, 8, 16, 32):
                prev = pyramid[s // 2]
                pyramid[s] = F.interpolate(prev, size=(prev.shape[2] // 2, prev.shape[3] // 2),
                                           mode="bilinear")
        return self._decoder_forward(enc, pyramid)


class _Wrapped(nn.Module):  # what nn.DataParallel adds to the reference's MHN keys
    def __init__(self, module):
        super().__init__()
        self.module = module


class ReferenceMHN(Encoder):
    TASKS = ("seg", "parts", "edges", "saliency", "normals")

    def __init__(self, depth="resnet34"):
        super().__init__(depth)
        self.decoders = nn.ModuleDict({t: _Wrapped(Decoder(NoCondBlock)) for t in self.TASKS})

    def forward(self, x, palette):
        enc = self.encode(x)
        out = -torch.ones(x.shape[0], 3, x.shape[2], x.shape[3])
        for k, t in enumerate(self.TASKS):
            out = torch.where((palette == k).unsqueeze(1), self.decoders[t].module(enc), out)
        return out


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

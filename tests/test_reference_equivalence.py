"""Our models equal the reference's, given the same weights (torch CPU needed)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ct_keras.layers.image_normalization import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from ct_keras.models import CompositeTaskingNet, MultiHeadNet, SingleTaskNet  # noqa: E402
from ct_keras.models.torch_import import load_torch_state_dict, read_state_dict  # noqa: E402
from tests import reference_torch as ref  # noqa: E402

SIZE = 64


def _palettes(rng, batch):
    mosaic = np.zeros((batch, SIZE, SIZE), np.int32)
    for b in range(batch):
        cy, cx = rng.integers(SIZE // 4, 3 * SIZE // 4, 2)
        tasks = rng.permutation(5)[:4]
        mosaic[b, :cy, :cx], mosaic[b, :cy, cx:] = tasks[0], tasks[1]
        mosaic[b, cy:, :cx], mosaic[b, cy:, cx:] = tasks[2], tasks[3]
    random = rng.integers(0, 5, (batch, SIZE, SIZE)).astype(np.int32)
    return {"mosaic": mosaic, "random": random}


def _torch_image(image):
    x = (image / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))


def _run_reference(model, image, palette=None):
    with torch.no_grad():
        args = (_torch_image(image),) + (() if palette is None else (torch.from_numpy(palette),))
        return model(*args).numpy().transpose(0, 2, 3, 1)


def _calibrated(model, rng, with_palette=True):
    batches = []
    for _ in range(3):
        image = rng.uniform(0, 255, (2, SIZE, SIZE, 3))
        args = (_torch_image(image),)
        if with_palette:
            args += (torch.from_numpy(rng.integers(0, 5, (2, SIZE, SIZE))),)
        batches.append(args)
    ref.calibrate_batch_norm(model, batches)
    return model


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def test_ctn_equals_reference(rng, tmp_path):
    torch.manual_seed(0)
    reference = _calibrated(ref.ReferenceCTN("resnet34"), rng)
    path = str(tmp_path / "ctn.pth")
    torch.save(reference.state_dict(), path)
    model = CompositeTaskingNet(backbone="resnet34", image_size=SIZE)
    load_torch_state_dict(model, read_state_dict(path))
    image = rng.uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    for name, palette in _palettes(rng, 2).items():
        expected = _run_reference(reference, image, palette)
        got = model({"image": image, "palette": palette}, training=False).numpy()
        assert np.abs(expected).max() > 0.1, "the reference's output should not be trivial"
        assert np.abs(got - expected).max() <= 1e-3, name


def test_stn_and_mhn_equal_reference(rng, tmp_path):
    torch.manual_seed(1)
    stn_ref = _calibrated(ref.ReferenceCTN("resnet18", conditioned=False), rng, with_palette=False)
    stn = SingleTaskNet(task="normals", backbone="resnet18", image_size=SIZE)
    load_torch_state_dict(stn, {k: v.numpy() for k, v in stn_ref.state_dict().items()})
    image = rng.uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(stn(image, training=False).numpy(), _run_reference(stn_ref, image),
                               atol=1e-3)

    mhn_ref = _calibrated(ref.ReferenceMHN("resnet18"), rng)
    mhn = MultiHeadNet(backbone="resnet18", image_size=SIZE)
    load_torch_state_dict(mhn, {k: v.numpy() for k, v in mhn_ref.state_dict().items()})
    palette = _palettes(rng, 2)["random"]
    np.testing.assert_allclose(mhn({"image": image, "palette": palette}, training=False).numpy(),
                               _run_reference(mhn_ref, image, palette), atol=1e-3)


def test_lightning_checkpoint_and_graph_mode(rng, tmp_path):
    torch.manual_seed(2)
    reference = _calibrated(ref.ReferenceCTN("resnet18"), rng)
    path = str(tmp_path / "epoch=3.ckpt")
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in reference.state_dict().items()}},
               path)
    model = CompositeTaskingNet(backbone="resnet18", image_size=SIZE)
    load_torch_state_dict(model, read_state_dict(path))
    image = rng.uniform(0, 255, (1, SIZE, SIZE, 3)).astype(np.float32)
    palette = _palettes(rng, 1)["mosaic"]
    expected = _run_reference(reference, image, palette)
    # predict() runs a traced tf.function: the graph that once fused LeakyReLU wrongly.
    graph = model.predict({"image": image, "palette": palette}, verbose=0)
    eager = model({"image": image, "palette": palette}, training=False).numpy()
    np.testing.assert_allclose(graph, eager, atol=1e-4)
    np.testing.assert_allclose(graph, expected, atol=1e-3)


def test_imagenet_resnet_fills_the_encoder(rng, tmp_path):
    from safetensors.numpy import save_file

    torch.manual_seed(3)
    resnet = ref.ResNet("resnet18")
    ref.calibrate_batch_norm(resnet, [(torch.randn(2, 3, SIZE, SIZE),)])
    path = str(tmp_path / "resnet18.safetensors")
    save_file({k: v.numpy() for k, v in resnet.state_dict().items()}, path)
    model = CompositeTaskingNet(backbone="resnet18", image_size=SIZE)
    before = [w.numpy().copy() for w in model.task_representation.weights]
    load_torch_state_dict(model, read_state_dict(path))
    x = rng.normal(size=(1, SIZE, SIZE, 3)).astype(np.float32)
    with torch.no_grad():
        t = torch.from_numpy(x.transpose(0, 3, 1, 2))
        t = resnet.layer4(resnet.layer3(resnet.layer2(resnet.layer1(
            resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(t))))))))
    got = model.encoder(x, training=False)["P5"].numpy()
    np.testing.assert_allclose(got, t.numpy().transpose(0, 2, 3, 1), atol=1e-4)
    for b, w in zip(before, model.task_representation.weights):
        np.testing.assert_array_equal(b, w.numpy())  # the decoder side is left alone


def test_mismatched_checkpoint_names_keys_and_changes_nothing(tmp_path):
    from ct_keras.models.torch_import import CheckpointMismatch

    state = {k: v.numpy() for k, v in ref.ReferenceCTN("resnet18").state_dict().items()}
    model = CompositeTaskingNet(backbone="resnet34", image_size=SIZE)
    before = model.get_weights()
    with pytest.raises(CheckpointMismatch, match=r"missing from the checkpoint: layer2\.1\.2\.conv1"):
        load_torch_state_dict(model, state)
    state["conv_last.weight"] = np.zeros((5, 64, 1, 1), np.float32)
    model18 = CompositeTaskingNet(backbone="resnet18", image_size=SIZE)
    with pytest.raises(CheckpointMismatch, match=r"conv_last\.weight: checkpoint \(1, 1, 64, 5\)"):
        load_torch_state_dict(model18, state)
    for b, a in zip(before, model.get_weights()):
        np.testing.assert_array_equal(b, a)
    with pytest.raises(ValueError, match="neither a torchvision"):
        load_torch_state_dict(model, {"foo.weight": np.zeros(3)})

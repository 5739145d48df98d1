import numpy as np
import pytest

from ct_keras.layers import (BilinearUpsampling2D, ImageNormalization, LeakyReLU, PaletteSelect,
                             PlainBlock, TaskComposition, TaskRepresentation, leaky_relu)
from tests.helpers import run_layer_test


def test_task_representation():
    palette = np.random.default_rng(0).integers(0, 5, (2, 64, 64)).astype("int32")
    layer = run_layer_test(
        TaskRepresentation, {"mlp_depth": 6}, palette,
        [(2, 64 // 2**l, 64 // 2**l, 128) for l in range(6)],
        expected_num_trainable_weights=12,
    )
    # The reference's 95,488 parameters for K = 5 (docs/design.md §2).
    assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == 95488


def test_task_representation_embeds_and_pools_like_the_paper():
    layer = TaskRepresentation(num_tasks=3, embedding_dim=8, mlp_depth=2)
    palette = np.random.default_rng(1).integers(0, 3, (1, 32, 32)).astype("int32")
    levels = layer(palette)
    vectors = layer.task_vectors().numpy()
    # Level 0: each pixel carries its task's vector.
    np.testing.assert_allclose(levels[0].numpy()[0], vectors[palette[0]], atol=1e-6)
    # Level l: 2×2 average of level l-1 (= bilinear halving of E).
    for l in range(1, 6):
        prev = levels[l - 1].numpy()
        pooled = prev.reshape(1, prev.shape[1] // 2, 2, prev.shape[2] // 2, 2, 8).mean(axis=(2, 4))
        np.testing.assert_allclose(levels[l].numpy(), pooled, atol=1e-5)
    nearest = TaskRepresentation(num_tasks=3, embedding_dim=8, mlp_depth=2,
                                 pyramid_interpolation="nearest")
    nearest.build(palette.shape)
    nearest.set_weights(layer.get_weights())
    np.testing.assert_allclose(nearest(palette)[1].numpy()[0], vectors[palette[0, ::2, ::2]], atol=1e-6)


def test_task_representation_ids_outside_the_tasks_embed_to_zero():
    layer = TaskRepresentation(num_tasks=2, embedding_dim=4, mlp_depth=1, num_levels=1)
    levels = layer(np.array([[[0, 5], [-1, 1]]], "int32"))
    e = levels[0].numpy()[0]
    assert np.all(e[0, 1] == 0) and np.all(e[1, 0] == 0) and np.any(e[0, 0] != 0)


def test_task_representation_factored_form_is_the_same_pyramid():
    layer = TaskRepresentation(num_tasks=3, embedding_dim=8, mlp_depth=2)
    palette = np.random.default_rng(3).integers(-1, 5, (2, 32, 32)).astype("int32")  # some ids outside
    levels = layer(palette)
    *mixes, vectors = layer(palette, factored=True)
    assert vectors.shape == (2, 4, 8) and np.all(vectors.numpy()[:, 3] == 0)
    for level, mix in zip(levels, mixes):
        np.testing.assert_allclose(mix.numpy().sum(-1), 1, atol=1e-6)
        np.testing.assert_allclose(np.einsum("bhwk,bkc->bhwc", mix.numpy(), vectors.numpy()), level.numpy(),
                                   atol=1e-6)


@pytest.mark.parametrize("level, one_hot_mix", [(0, True), (0, False), (2, False)])
def test_task_composition_on_the_factored_embedding_is_exact(level, one_hot_mix):
    import tensorflow as tf

    rng = np.random.default_rng(4)
    palette = rng.integers(-1, 6, (2, 32, 32)).astype("int32")
    representation = TaskRepresentation(num_tasks=5, embedding_dim=16, mlp_depth=2)
    x = tf.constant(rng.normal(size=(2, 32 >> level, 32 >> level, 6)).astype("float32"))
    block = TaskComposition(12, 3, hidden_dim=10, num_shared_convs=2)
    block([x, representation(palette)[level]])
    for w in block.trainable_weights:
        w.assign(rng.normal(size=w.shape).astype("float32") * 0.3)
    weights = block.trainable_weights + representation.trainable_weights
    outputs, gradients = [], []
    for factored in (False, True):
        with tf.GradientTape() as tape:
            if factored:
                *mixes, vectors = representation(palette, factored=True)
                y = block([x, mixes[level], vectors], training=True, one_hot_mix=one_hot_mix)
            else:
                y = block([x, representation(palette)[level]], training=True)
            loss = tf.reduce_sum(tf.square(y))
        outputs.append(y.numpy())
        gradients.append(tape.gradient(loss, weights))
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5)
    for w, plain, fast in zip(weights, *gradients):
        if w.path.endswith("conv/bias"):  # BatchNorm cancels it: its gradient is float noise
            continue
        np.testing.assert_allclose(fast.numpy(), plain.numpy(), rtol=1e-4,
                                   atol=1e-4 * float(np.abs(plain.numpy()).max()), err_msg=w.path)


def test_task_representation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="pyramid_interpolation.*Received 'bicubic'"):
        TaskRepresentation(pyramid_interpolation="bicubic")
    with pytest.raises(ValueError, match="mlp_depth.*Received 0"):
        TaskRepresentation(mlp_depth=0)


def test_task_composition():
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(2, 16, 16, 8)).astype("float32"),
              rng.normal(size=(2, 16, 16, 128)).astype("float32")]
    layer = run_layer_test(
        TaskComposition, {"filters": 12, "kernel_size": 3, "hidden_dim": 16}, inputs,
        (2, 16, 16, 12), expected_num_trainable_weights=8, expected_num_non_trainable_weights=2,
    )
    # γ starts at 1 and β at 0 (bias init), as in the reference.
    assert np.all(layer.gamma_conv.bias.numpy() == 1) and np.all(layer.beta_conv.bias.numpy() == 0)


def test_task_composition_follows_equation_1():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 8, 8, 4)).astype("float32")
    e = rng.normal(size=(1, 8, 8, 6)).astype("float32")
    layer = TaskComposition(5, 1, hidden_dim=7, num_shared_convs=2)
    layer([x, e])
    for w in layer.trainable_weights:
        w.assign(rng.normal(size=w.shape).astype("float32") * 0.5)
    layer.norm.moving_mean.assign(rng.normal(size=5).astype("float32"))
    layer.norm.moving_variance.assign(rng.uniform(0.5, 2, 5).astype("float32"))
    got = layer([x, e], training=False).numpy()

    lrelu = lambda v: np.where(v > 0, v, 0.01 * v)
    y = x @ layer.conv.kernel.numpy()[0, 0] + layer.conv.bias.numpy()
    y = (y - layer.norm.moving_mean.numpy()) / np.sqrt(layer.norm.moving_variance.numpy() + 1e-5)
    s = e
    for conv in layer.shared_convs:
        s = lrelu(s @ conv.kernel.numpy()[0, 0] + conv.bias.numpy())
    gamma = s @ layer.gamma_conv.kernel.numpy()[0, 0] + layer.gamma_conv.bias.numpy()
    beta = s @ layer.beta_conv.kernel.numpy()[0, 0] + layer.beta_conv.bias.numpy()
    np.testing.assert_allclose(got, lrelu(y * gamma + beta), rtol=1e-4, atol=1e-4)


def test_plain_block():
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 8)).astype("float32")
    run_layer_test(PlainBlock, {"filters": 6, "kernel_size": 3}, x, (2, 16, 16, 6),
                   expected_num_trainable_weights=4, expected_num_non_trainable_weights=2)
    with pytest.raises(ValueError, match="odd. Received 2"):
        PlainBlock(4, 2)


def test_bilinear_upsampling_aligns_corners():
    x = np.random.default_rng(0).normal(size=(1, 4, 5, 2)).astype("float32")
    run_layer_test(BilinearUpsampling2D, {}, x, (1, 8, 10, 2), expected_num_trainable_weights=0)
    out = BilinearUpsampling2D()(x).numpy()
    # align_corners=True: corners are kept and output row i samples input row i·(h-1)/(2h-1).
    np.testing.assert_allclose(out[:, [0, -1]][:, :, [0, -1]], x[:, [0, -1]][:, :, [0, -1]], atol=1e-6)
    t = 1 * (4 - 1) / (8 - 1)
    np.testing.assert_allclose(out[0, 1, 0], (1 - t) * x[0, 0, 0] + t * x[0, 1, 0], atol=1e-5)


def test_leaky_relu():
    x = np.random.default_rng(0).normal(size=(1, 16, 16, 4)).astype("float32")
    np.testing.assert_allclose(leaky_relu(x, 0.01).numpy(), np.where(x > 0, x, 0.01 * x), rtol=1e-6)
    run_layer_test(LeakyReLU, {"negative_slope": 0.2}, x, x.shape, expected_num_trainable_weights=0)
    with pytest.raises(ValueError, match="negative_slope.*Received 2"):
        LeakyReLU(2)


def test_image_normalization_matches_torchvision():
    x = np.full((1, 2, 2, 3), 255.0, "float32")
    out = ImageNormalization()(x).numpy()[0, 0, 0]
    np.testing.assert_allclose(out, [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225],
                               rtol=1e-5)


def test_palette_select():
    palette = np.array([[[0, 1], [2, 7]]], "int32")
    outs = [np.full((1, 2, 2, 3), float(k), "float32") for k in range(3)]
    got = PaletteSelect()([palette] + outs).numpy()[0, ..., 0]
    np.testing.assert_array_equal(got, [[0, 1], [2, -1]])

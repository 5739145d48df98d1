"""The exact fast inference path gives the plain model's outputs (docs/design.md §2, last bullet)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ct_keras.deploy import FastCompositeTasking
from ct_keras.deploy.folding import cell_mixes, fold_batch_norm
from ct_keras.deploy.upsample_conv import stack_taps, upsample_conv
from ct_keras.models import MultiHeadNet
from tests.deploy_helpers import SIZE, TINY, keras_raw, random_inputs, tiny_ctn, uniform_palette

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def ctn():
    return tiny_ctn(seed=0)


@pytest.fixture(scope="module")
def fast(ctn):
    return FastCompositeTasking(ctn)


def _assert_close(actual, expected):
    # The random-statistics model's raw outputs are O(1): an absolute bound is meaningful.
    assert np.abs(expected).max() > 0.05
    np.testing.assert_allclose(actual, expected, atol=TOLERANCE, rtol=0)


def test_composite_palette(ctn, fast):
    image, palette = random_inputs(2, seed=1)
    assert len(np.unique(palette)) == 5
    _assert_close(fast.composite(image, palette).numpy(), keras_raw(ctn, image, palette))
    _assert_close(fast({"image": image, "palette": palette}).numpy(), keras_raw(ctn, image, palette))


def test_uniform_palette(ctn, fast):
    image, _ = random_inputs(2, seed=2)
    expected = keras_raw(ctn, image, uniform_palette([3, 1]))
    _assert_close(fast.single_task(image, tf.constant([3, 1])).numpy(), expected)
    _assert_close(fast.composite(image, uniform_palette([3, 1])).numpy(), expected)
    _assert_close(fast.single_task_folded(image[1:], 1).numpy(), expected[1:])
    with pytest.raises(ValueError, match=r"`task` must be in \[0, 5\)\. Received 5"):
        fast.single_task_folded(image, 5)


def test_all_tasks_runs_the_encoder_once(ctn, fast):
    image, _ = random_inputs(2, seed=3)
    every = fast.all_tasks(image).numpy()
    assert every.shape == (2, 5, SIZE, SIZE, 3)
    for k in range(5):
        _assert_close(every[:, k], keras_raw(ctn, image, uniform_palette([k, k])))


def test_constant_weights_equal_variables(ctn, fast):
    # The SavedModel's form: the same numbers, no variables, and the encoder and decoders
    # traced once each (so every graph that calls them shares their constants).
    constant = FastCompositeTasking(ctn, constant_weights=True)
    assert constant.variables == () and len(fast.variables) > 0
    image, palette = random_inputs(2, seed=5)
    for name, args in (("composite", (image, palette)), ("single_task", (image, [4, 0])),
                       ("all_tasks", (image,))):
        np.testing.assert_allclose(getattr(constant, name)(*args).numpy(),
                                   getattr(fast, name)(*args).numpy(), atol=1e-5, err_msg=name)
    np.testing.assert_allclose(constant.single_task_folded(image, 3).numpy(),
                               fast.single_task_folded(image, 3).numpy(), atol=1e-5)
    for function in constant.shared_functions:
        assert function.experimental_get_tracing_count() == 1, function
    # Every convolution's filter is a constant of the graph (what oneDNN caches), or a
    # slice of one (`weight[None, None]`, which graph optimization folds).
    def constant_op(op):
        return op.type == "Const" or (op.type == "StridedSlice" and constant_op(op.inputs[0].op))

    for function in constant.shared_functions:
        convs = [op for op in function.get_concrete_function().graph.get_operations()
                 if op.type == "Conv2D"]
        assert convs and all(constant_op(op.inputs[1].op) for op in convs), function


def test_graph_equals_eager(fast):
    # docs/design.md §7: a graph-mode rewrite once changed LeakyReLU slopes silently.
    image, palette = random_inputs(1, seed=4)
    graph = tf.function(fast.composite)(tf.constant(image), tf.constant(palette)).numpy()
    np.testing.assert_allclose(graph, fast.composite(image, palette).numpy(), atol=1e-5)
    graph = tf.function(fast.single_task)(tf.constant(image), tf.constant([2])).numpy()
    np.testing.assert_allclose(graph, fast.single_task(image, [2]).numpy(), atol=1e-5)
    # conv + bias + activation: the pattern the remapper fuses.
    graph = tf.function(lambda x: fast.single_task_folded(x, 2))(tf.constant(image)).numpy()
    np.testing.assert_allclose(graph, fast.single_task_folded(image, 2).numpy(), atol=1e-5)
    graph = tf.function(fast.all_tasks)(tf.constant(image)).numpy()
    np.testing.assert_allclose(graph, fast.all_tasks(image).numpy(), atol=1e-5)


@pytest.mark.parametrize("options, low_res", [
    ({"num_shared_convs": 2, "output_channels": 6}, True),
    ({"pyramid_interpolation": "nearest", "decoder_kernel_size": 1, "mlp_depth": 3}, True),
    ({}, False),
])
def test_ablation_variants(options, low_res):
    model = tiny_ctn(seed=5, **options)
    fast = FastCompositeTasking(model, low_res_upsampling_conv=low_res)
    image, palette = random_inputs(1, seed=6)
    _assert_close(fast.composite(image, palette).numpy(), keras_raw(model, image, palette))
    _assert_close(fast.all_tasks(image).numpy()[:, 4], keras_raw(model, image, uniform_palette([4])))


def test_rectangular_images():
    model = tiny_ctn(seed=7, image_size=(64, 96))
    rng = np.random.default_rng(7)
    image = rng.uniform(0, 255, (1, 64, 96, 3)).astype("float32")
    palette = rng.integers(0, 5, (1, 64, 96)).astype("int32")
    _assert_close(FastCompositeTasking(model).composite(image, palette).numpy(),
                  keras_raw(model, image, palette))


def test_fold_batch_norm_is_exact():
    keras.utils.set_random_seed(8)
    conv = keras.layers.Conv2D(8, 3, padding="same", use_bias=True)
    norm = keras.layers.BatchNormalization(epsilon=1e-5)
    x = np.random.default_rng(8).normal(size=(1, 8, 8, 4)).astype("float32")
    norm(conv(x))
    norm.moving_mean.assign(np.linspace(-1, 1, 8).astype("float32"))
    norm.moving_variance.assign(np.linspace(0.5, 2, 8).astype("float32"))
    norm.gamma.assign(np.linspace(-2, 2, 8).astype("float32"))
    kernel, bias = fold_batch_norm(conv, norm)
    folded = tf.nn.conv2d(x, kernel.astype("float32"), 1, "SAME") + bias.astype("float32")
    np.testing.assert_allclose(folded.numpy(), norm(conv(x), training=False).numpy(), atol=1e-5)


def test_only_for_composite_tasking_nets():
    with pytest.raises(ValueError, match="fast path is for a CompositeTaskingNet.*MultiHeadNet"):
        FastCompositeTasking(MultiHeadNet(**{k: v for k, v in TINY.items() if k != "embedding_dim"},
                                          num_tasks=2))


@pytest.mark.parametrize("kernel_size, shape", [(3, (2, 8, 12, 6)), (1, (1, 4, 4, 5)), (5, (1, 6, 4, 3))])
def test_upsample_conv_equals_upsampling_then_convolving(kernel_size, shape):
    rng = np.random.default_rng(9)
    low = rng.normal(size=shape).astype("float32")
    kernel = rng.normal(size=(kernel_size, kernel_size, shape[-1], 7)).astype("float32")
    upsampled = tf.raw_ops.ResizeBilinear(images=low, size=(2 * shape[1], 2 * shape[2]),
                                          align_corners=True, half_pixel_centers=False)
    expected = tf.nn.conv2d(upsampled, kernel, 1, "SAME").numpy()
    actual = upsample_conv(tf.constant(low), stack_taps(kernel), kernel_size).numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=1e-5)


def test_cell_mixes():
    mixes = cell_mixes(3, cell_pixels=4)
    assert mixes.shape == (25, 3)
    code = 2 + 5 * 1  # 2 pixels of task 0, 1 of task 1, the rest (1) of task 2
    np.testing.assert_allclose(mixes[code], [0.5, 0.25, 0.25])

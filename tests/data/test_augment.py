import numpy as np
import tensorflow as tf

from ct_keras.data.augment import augment, geometric_transform, photometric


def _example(h=8, w=10, seed=0):
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(h, w, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    targets = {
        "semseg": tf.constant(rng.integers(0, 21, (h, w)), tf.int32),
        "parts": tf.constant(rng.integers(0, 7, (h, w)), tf.int32),
        "edges": tf.constant(rng.integers(0, 2, (h, w)), tf.float32),
        "saliency": tf.constant(rng.integers(0, 2, (h, w)), tf.float32),
        "normals": tf.constant(normals),
    }
    return tf.constant(rng.uniform(0, 255, (h, w, 3)), tf.float32), targets


def test_flip_mirrors_everything_and_negates_normal_x():
    image, targets = _example()
    flipped_image, flipped = geometric_transform(image, targets, flip=True, scale=1.0, shift=[0.0, 0.0])
    np.testing.assert_allclose(flipped_image.numpy(), image.numpy()[:, ::-1], atol=1e-4)
    for key in ("semseg", "parts", "edges", "saliency"):
        assert np.array_equal(flipped[key].numpy(), targets[key].numpy()[:, ::-1]), key
    expected = targets["normals"].numpy()[:, ::-1] * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(flipped["normals"].numpy(), expected, atol=1e-6)


def test_zoom_out_pads_with_ignore_values():
    image, targets = _example(16, 16)
    _, out = geometric_transform(image, targets, flip=False, scale=0.5, shift=[0.0, 0.0])
    border = np.ones((16, 16), bool)
    border[4:12, 4:12] = False
    assert (out["semseg"].numpy()[border] == 255).all() and (out["parts"].numpy()[border] == 255).all()
    assert (out["normals"].numpy()[border] == 0).all() and (out["edges"].numpy()[border] == 0).all()
    inside = out["semseg"].numpy()[~border]
    assert (inside != 255).all()
    norms = np.linalg.norm(out["normals"].numpy()[~border], axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_shift_moves_labels_by_whole_pixels():
    image, targets = _example(8, 8)
    _, out = geometric_transform(image, targets, flip=False, scale=1.0, shift=[0.0, 2.0])
    assert np.array_equal(out["semseg"].numpy()[:, 2:], targets["semseg"].numpy()[:, :-2])
    assert (out["semseg"].numpy()[:, :2] == 255).all()


def test_augment_is_seeded_and_keeps_ranges():
    image, targets = _example(32, 32)
    a_image, a = augment(image, targets, tf.constant([1, 2]))
    b_image, b = augment(image, targets, tf.constant([1, 2]))
    assert np.array_equal(a_image.numpy(), b_image.numpy())
    assert np.array_equal(a["semseg"].numpy(), b["semseg"].numpy())
    assert 0.0 <= a_image.numpy().min() and a_image.numpy().max() <= 255.0
    assert a["semseg"].dtype == tf.int32 and a["normals"].shape == (32, 32, 3)
    outputs = {augment(image, targets, tf.constant([1, i]))[0].numpy().tobytes() for i in range(4)}
    assert len(outputs) == 4


def test_photometric_changes_colours_but_not_shape():
    image, _ = _example(32, 32)
    changed = [np.abs(photometric(image, tf.constant([0, i])).numpy() - image.numpy()).mean() for i in range(8)]
    assert max(changed) > 2.0
    assert photometric(image, tf.constant([0, 0])).shape == image.shape

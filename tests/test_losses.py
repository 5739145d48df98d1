"""Losses against values computed by hand (numpy, written out term by term)."""

import numpy as np
import pytest

from ct_keras import tasks
from ct_keras.losses import (
    CompositeLoss, anchor_focal_loss, balanced_bce, cosine_loss, l1_normals_loss, masked_mean, weighted_bce,
)


def _sig(x):
    return 1 / (1 + np.exp(-x))


def test_anchor_focal_loss_by_hand():
    anchors = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0]], np.float32)
    raw = np.array([[[[0.0, 0.0, 0.0], [2.0, -1.0, 0.5], [1.0, 1.0, 1.0]]]], np.float32)
    labels = np.array([[[2, 1, 255]]])
    want = []
    for o, y in zip(raw[0, 0][:2], labels[0, 0][:2]):
        q = 1 / (np.linalg.norm(_sig(o) - anchors, axis=1) + 1e-8)
        p = np.exp(q - q.max()) / np.exp(q - q.max()).sum()
        want.append(-(1 - p[y]) ** 2 * np.log(p[y]))
    got = float(anchor_focal_loss(raw, labels, anchors, gamma=2.0))
    np.testing.assert_allclose(got, np.mean(want), rtol=1e-5)
    # γ = 0 is cross-entropy; a mask keeps only the first pixel.
    q = 1 / (np.linalg.norm(_sig(raw[0, 0, 0]) - anchors, axis=1) + 1e-8)
    ce = -np.log(np.exp(q[2] - q.max()) / np.exp(q - q.max()).sum())
    got = float(anchor_focal_loss(raw, labels, anchors, mask=np.array([[[1, 0, 1]]]), gamma=0))
    np.testing.assert_allclose(got, ce, rtol=1e-5)


def test_anchor_focal_loss_is_zero_without_valid_pixels():
    anchors = tasks.anchor_matrix(tasks.PARTS)
    raw = np.ones((1, 2, 2, 3), np.float32)
    assert float(anchor_focal_loss(raw, np.full((1, 2, 2), 255), anchors)) == 0.0


def test_weighted_bce_by_hand():
    raw = np.array([[[[1.0, -2.0, 0.0], [3.0, 0.5, -0.5]]]], np.float32)
    y = np.array([[[1.0, 0.0]]], np.float32)
    pos = -np.log(_sig(raw[0, 0, 0]))
    neg = -np.log(1 - _sig(raw[0, 0, 1]))
    want = np.mean(np.concatenate([0.95 * pos, 0.05 * neg]))
    np.testing.assert_allclose(float(weighted_bce(raw, y)), want, rtol=1e-5)
    np.testing.assert_allclose(float(weighted_bce(raw, y, mask=[[[0, 1]]])), 0.05 * neg.mean(), rtol=1e-5)


def test_balanced_bce_weight_counts_selected_pixels():
    raw = np.random.default_rng(0).normal(size=(1, 2, 3, 3)).astype(np.float32)
    y = np.array([[[1, 0, 0], [0, 1, 0]]], np.float32)
    mask = np.array([[[1, 1, 1], [1, 0, 0]]])
    # Selected: 1 positive, 3 negatives → w = (3 + 1) / (4 + 2).
    w = 4 / 6
    terms = []
    for i in range(2):
        for j in range(3):
            if mask[0, i, j]:
                o = raw[0, i, j]
                t = w * -np.log(_sig(o)) if y[0, i, j] else (1 - w) * -np.log(1 - _sig(o))
                terms.append(t)
    np.testing.assert_allclose(float(balanced_bce(raw, y, mask)), np.mean(terms), rtol=1e-5)


def test_cosine_loss_skips_zero_targets():
    raw = np.array([[[[1.0, 0, 0], [0, 2.0, 0], [5.0, 5.0, 5.0]]]], np.float32)
    target = np.array([[[[1.0, 0, 0], [1.0, 0, 0], [0, 0, 0]]]], np.float32)
    # Pixel 0: cos 1 → 0; pixel 1: cos 0 → 1; pixel 2 unlabelled.
    np.testing.assert_allclose(float(cosine_loss(raw, target)), 0.5, atol=1e-6)


def test_masked_mean_of_nothing_is_zero():
    assert float(masked_mean(np.ones(3, np.float32), np.zeros(3))) == 0.0


def test_composite_loss_weights_each_task_on_its_palette_region():
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    palette = rng.integers(0, 5, (2, 4, 4)).astype(np.int32)
    targets = {
        "semseg": rng.integers(0, 21, (2, 4, 4)), "parts": rng.integers(0, 7, (2, 4, 4)),
        "edges": rng.integers(0, 2, (2, 4, 4)).astype(np.float32),
        "saliency": rng.integers(0, 2, (2, 4, 4)).astype(np.float32),
        "normals": rng.normal(size=(2, 4, 4, 3)).astype(np.float32),
    }
    loss = CompositeLoss()
    total, parts = loss(raw, palette, targets)
    # Each task's own function, its anchors and its region (independent of `task_loss`).
    expected = {
        "semseg": anchor_focal_loss(raw, targets["semseg"], tasks.anchor_matrix(tasks.SEMSEG), palette == 0),
        "parts": anchor_focal_loss(raw, targets["parts"], tasks.anchor_matrix(tasks.PARTS), palette == 1),
        "edges": weighted_bce(raw, targets["edges"], palette == 2),
        "saliency": balanced_bce(raw, targets["saliency"], palette == 3),
        "normals": cosine_loss(raw, targets["normals"], palette == 4),
    }
    paper = {"semseg": 3, "parts": 4, "edges": 50, "saliency": 8, "normals": 4}
    for name, value in expected.items():
        np.testing.assert_allclose(float(parts[name]), float(value), rtol=1e-6)
    np.testing.assert_allclose(float(total), sum(paper[n] * float(v) for n, v in expected.items()), rtol=1e-5)
    for k, name in enumerate(tasks.TASK_NAMES):
        # A change outside task k's region leaves its loss alone; inside, it moves it.
        outside, inside = raw.copy(), raw.copy()
        outside[palette != k] += 3.0
        inside[palette == k] += 3.0
        np.testing.assert_allclose(float(loss(outside, palette, targets)[1][name]), float(parts[name]), rtol=1e-6)
        assert abs(float(loss(inside, palette, targets)[1][name]) - float(parts[name])) > 1e-3, name


def test_composite_loss_passes_its_options_on():
    rng = np.random.default_rng(2)
    raw = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    labels = rng.integers(0, 21, (1, 4, 4))
    normals = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    edges = rng.integers(0, 2, (1, 4, 4)).astype(np.float32)
    loss = CompositeLoss(focal_gamma=0.0, normals_loss="l1", edges_positive_weight=0.5)
    np.testing.assert_allclose(float(loss.task_loss(tasks.SEMSEG, raw, labels)),
                               float(anchor_focal_loss(raw, labels, tasks.anchor_matrix(0), gamma=0.0)), rtol=1e-6)
    assert abs(float(loss.task_loss(tasks.SEMSEG, raw, labels))
               - float(anchor_focal_loss(raw, labels, tasks.anchor_matrix(0)))) > 1e-4
    np.testing.assert_allclose(float(loss.task_loss(tasks.NORMALS, raw, normals)),
                               float(l1_normals_loss(raw, normals)), rtol=1e-6)
    np.testing.assert_allclose(float(loss.task_loss(tasks.EDGES, raw, edges)),
                               float(weighted_bce(raw, edges, positive_weight=0.5)), rtol=1e-6)
    assert CompositeLoss(tasks=["normals", 0]).tasks == (4, 0)


def test_composite_loss_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown tasks"):
        CompositeLoss(weights={"depth": 1.0})
    with pytest.raises(ValueError, match="normals_loss"):
        CompositeLoss(normals_loss="l2")
    with pytest.raises(ValueError, match="`task` must be one of 0 \\(semseg\\)"):
        CompositeLoss(tasks=[5])

import numpy as np
import pytest
import tensorflow as tf

from ct_keras.data.palettes import RULES, SEMANTIC_RULE_TABLES, VOID_TASK, class_to_task, task_palette
from ct_keras.tasks import EDGES, NORMALS, NUM_TASKS, PARTS, SALIENCY, SEMSEG, VOC_CLASSES


def _label(*names):
    return tf.constant([[VOC_CLASSES.index(n) for n in names] + [255]], tf.int32)


def test_r2_and_r3_follow_the_paper_tables():
    label = _label("background", "person", "cat", "sofa", "car", "bottle", "train")
    r2 = task_palette("r2", semseg=label).numpy()[0].tolist()
    r3 = task_palette("r3", semseg=label).numpy()[0].tolist()
    assert r2 == [EDGES, PARTS, SEMSEG, NORMALS, SALIENCY, NORMALS, SALIENCY, VOID_TASK]
    assert r3 == [EDGES, PARTS, SALIENCY, NORMALS, NORMALS, SALIENCY, NORMALS, VOID_TASK]
    assert VOID_TASK == EDGES


def test_every_voc_class_has_exactly_one_task_per_rule():
    for rule, table in SEMANTIC_RULE_TABLES.items():
        named = [n for names in table.values() for n in names]
        assert len(named) == len(set(named)) == 20, rule  # all but background
        lut = class_to_task(rule)
        assert all(0 <= t < NUM_TASKS for t in lut)


def test_single_task_given_or_drawn_per_image():
    fixed = task_palette("s", shape=(4, 5), task=NORMALS).numpy()
    assert fixed.shape == (4, 5) and (fixed == NORMALS).all()
    seeds = tf.stack([tf.zeros(64, tf.int64), tf.range(64, dtype=tf.int64)], axis=1)
    drawn = task_palette("s", seed=seeds, shape=(3, 3)).numpy()
    assert drawn.shape == (64, 3, 3)
    assert all(len(np.unique(p)) == 1 for p in drawn)
    assert set(np.unique(drawn)) == set(range(NUM_TASKS))
    with pytest.raises(ValueError, match=r"`task` must be in \[0, 5\). Received 7"):
        task_palette("s", shape=(2, 2), task=7)


def test_r1r_quadrants_hold_four_distinct_tasks_around_a_central_split():
    h, w = 64, 48
    for i in range(20):
        p = task_palette("r1r", seed=[3, i], shape=(h, w)).numpy()
        rows = np.flatnonzero(p[1:, 0] != p[:-1, 0]) + 1
        cols = np.flatnonzero(p[0, 1:] != p[0, :-1]) + 1
        assert len(rows) == len(cols) == 1
        assert h // 4 <= rows[0] < 3 * h // 4 and w // 4 <= cols[0] < 3 * w // 4
        corners = {p[0, 0], p[0, -1], p[-1, 0], p[-1, -1]}
        assert len(corners) == 4 and corners <= set(range(NUM_TASKS))


def test_rrnd_is_iid_per_pixel_and_seeded():
    p = task_palette("rrnd", seed=[1, 2], shape=(64, 64)).numpy()
    counts = np.bincount(p.ravel(), minlength=NUM_TASKS)
    assert counts.min() > 0.15 * p.size
    assert np.array_equal(p, task_palette("rrnd", seed=[1, 2], shape=(64, 64)).numpy())
    assert not np.array_equal(p, task_palette("rrnd", seed=[1, 3], shape=(64, 64)).numpy())


def test_batch_equals_examples_one_by_one():
    seeds = tf.constant([[5, 0], [5, 1], [5, 2]], tf.int64)
    for rule in ("s", "r1r", "rrnd", "rrnd+s"):
        batch = task_palette(rule, seed=seeds, shape=(16, 16)).numpy()
        for i in range(3):
            assert np.array_equal(batch[i], task_palette(rule, seed=seeds[i], shape=(16, 16)).numpy()), rule


def test_mixed_rule_draws_one_rule_per_example():
    seeds = tf.stack([tf.fill([200], tf.constant(7, tf.int64)), tf.range(200, dtype=tf.int64)], axis=1)
    mixed = task_palette("rrnd+s", seed=seeds, shape=(16, 16)).numpy()
    uniform = np.array([len(np.unique(p)) == 1 for p in mixed])
    # S gives one task per image; Rrnd's 256 i.i.d. pixels never do. About half each.
    assert 70 < uniform.sum() < 130
    assert all(len(np.unique(p)) == NUM_TASKS for p in mixed[~uniform])
    assert np.array_equal(mixed, task_palette("rrnd+s", seed=seeds, shape=(16, 16)).numpy())
    label = tf.fill([16, 16], VOC_CLASSES.index("person"))
    with_semantic = [task_palette("r2+r1r", seed=[1, i], semseg=label).numpy() for i in range(40)]
    r2 = [np.all(p == PARTS) for p in with_semantic]
    assert 0 < sum(r2) < 40  # both rules drawn; the R1r ones hold four tasks
    assert all(len(np.unique(p)) == 4 for p, semantic in zip(with_semantic, r2) if not semantic)


def test_rule_argument_errors():
    with pytest.raises(ValueError, match=r"`rule` must be one of .*Received 'r9'"):
        task_palette("r9", seed=[0, 0], shape=(2, 2))
    with pytest.raises(ValueError, match=r"Rule 'r2' needs the semseg label"):
        task_palette("r2", seed=[0, 0], shape=(2, 2))
    with pytest.raises(ValueError, match=r"Rule 'rrnd' needs a seed"):
        task_palette("rrnd", shape=(2, 2))
    assert set(RULES) == {"s", "r1r", "rrnd", "r2", "r3"}
    for rule in ("rrnd+r9", "rrnd+rrnd", "+s", ""):
        with pytest.raises(ValueError, match=r"or several of them joined by '\+'"):
            task_palette(rule, seed=[0, 0], shape=(2, 2))
    with pytest.raises(ValueError, match=r"Rule 'rrnd\+s' needs a seed"):
        task_palette("rrnd+s", shape=(2, 2))

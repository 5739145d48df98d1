"""Task Palette rules (paper §5.1, appendix C; docs/design.md §4) as stateless TF ops.

Every random rule takes a `seed`: an int `[2]` tensor for one example or `[B, 2]`
for a batch. The same seed always gives the same palette, which makes validation
palettes a pure function of (seed, example index) (`make_dataset` does that).

    s     one task everywhere: `task`, or one drawn per image when `task` is None
    r1r   four rectangles around a split point uniform in [H/4, 3H/4) × [W/4, 3W/4),
          4 of the 5 tasks assigned to them at random
    rrnd  an i.i.d. task per pixel
    r2/r3 the task of each pixel follows its semseg class (tables below)

Training rules may be mixed: `rrnd+s` draws, for each example (from its seed), one of
the rules joined by `+`, each as likely, then that rule's palette.

Void semseg pixels (255) are given the edge task under r2 / r3, like background:
in VOC the void band traces object outlines, which is where edges are meaningful,
and it keeps every pixel of a palette a valid task id.
"""

import tensorflow as tf

from ct_keras.tasks import EDGES, NORMALS, NUM_TASKS, PARTS, SALIENCY, SEMSEG, VOC_CLASSES

RULES = ("s", "r1r", "rrnd", "r2", "r3")
SEMANTIC_RULES = ("r2", "r3")
VOID_TASK = EDGES

# Paper appendix C; every class not named (background) gets edges.
SEMANTIC_RULE_TABLES = {
    "r2": {
        PARTS: ("person",),
        SEMSEG: ("bird", "horse", "cow", "cat", "dog", "sheep"),
        NORMALS: ("bottle", "chair", "diningtable", "pottedplant", "sofa", "tvmonitor"),
        SALIENCY: ("aeroplane", "bicycle", "boat", "bus", "car", "motorbike", "train"),
    },
    "r3": {
        PARTS: ("person",),
        NORMALS: ("chair", "diningtable", "sofa", "bicycle", "bus", "car", "motorbike", "train"),
        SALIENCY: (
            "aeroplane", "boat", "bird", "horse", "cow", "cat", "dog", "sheep",
            "bottle", "pottedplant", "tvmonitor",
        ),
    },
}


def class_to_task(rule):
    """`[256]` int32: the task of each semseg value under `rule` (255 → `VOID_TASK`)."""
    if rule not in SEMANTIC_RULE_TABLES:
        raise ValueError(f"`rule` must be one of {SEMANTIC_RULES}. Received {rule!r}")
    table = [EDGES] * 256
    table[255] = VOID_TASK
    for task, names in SEMANTIC_RULE_TABLES[rule].items():
        for name in names:
            table[VOC_CLASSES.index(name)] = task
    return table


def semantic_palette(semseg, rule):
    """Palette from a semseg label of any shape (`[H, W]` or `[B, H, W]`)."""
    table = tf.constant(class_to_task(rule), tf.int32)
    return tf.gather(table, tf.clip_by_value(tf.cast(semseg, tf.int32), 0, 255))


def single_task_palette(seed, shape, task=None):
    """One task everywhere: `task`, or a task drawn from `seed`."""
    if task is None:
        task = tf.random.stateless_uniform([], seed, 0, NUM_TASKS, tf.int32)
    elif not 0 <= int(task) < NUM_TASKS:
        raise ValueError(f"`task` must be in [0, {NUM_TASKS}). Received {task}")
    return tf.fill(shape, tf.cast(task, tf.int32))


def mosaic_palette(seed, shape):
    """Rule R1r: four rectangles, four distinct tasks."""
    h, w = shape[0], shape[1]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    split_y = tf.random.stateless_uniform([], seeds[0], h // 4, 3 * h // 4, tf.int32)
    split_x = tf.random.stateless_uniform([], seeds[1], w // 4, 3 * w // 4, tf.int32)
    order = tf.argsort(tf.random.stateless_uniform([NUM_TASKS], seeds[2]))[:4]
    lower = tf.cast(tf.range(h) >= split_y, tf.int32)[:, None]
    right = tf.cast(tf.range(w) >= split_x, tf.int32)[None, :]
    return tf.gather(tf.cast(order, tf.int32), 2 * lower + right)


def random_pixel_palette(seed, shape):
    """Rule Rrnd: an independent task per pixel."""
    return tf.random.stateless_uniform(shape, seed, 0, NUM_TASKS, tf.int32)


def rule_parts(rule):
    """The rules that `rule` draws from: `("rrnd",)` for "rrnd", `("rrnd", "s")` for
    "rrnd+s". Raises a ValueError naming the rules for anything else."""
    parts = tuple(rule.split("+")) if isinstance(rule, str) else ()
    if not parts or any(p not in RULES for p in parts) or len(set(parts)) != len(parts):
        raise ValueError(f"`rule` must be one of {RULES}, or several of them joined by '+' (each "
                         f"example draws one, e.g. 'rrnd+s'). Received {rule!r}")
    return parts


def _mixed_palette(parts, seed, shape, semseg, task):
    """One of `parts`' palettes per example, the rule drawn from the example's seed."""
    if seed is None:
        raise ValueError(f"Rule {'+'.join(parts)!r} needs a seed (it draws a rule per example). "
                         "Received seed=None")
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)

    def draw(one_seed):
        choice_seed, palette_seed = tf.unstack(tf.random.experimental.stateless_split(one_seed, 2))
        return tf.random.stateless_uniform([], choice_seed, 0, len(parts), tf.int32), palette_seed

    if seed.shape.rank == 1:
        choice, palette_seed = draw(seed)
    else:
        choice, palette_seed = tf.map_fn(
            draw, seed, fn_output_signature=(tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int64)))
        choice = choice[:, None, None]
    palette = None
    for k, part in enumerate(parts):
        candidate = task_palette(part, seed=palette_seed, shape=shape, semseg=semseg, task=task)
        palette = candidate if palette is None else tf.where(tf.equal(choice, k), candidate, palette)
    return palette


def task_palette(rule, seed=None, shape=None, semseg=None, task=None):
    """The palette of `rule`, for one example or a batch.

    Args:
        rule: one of `RULES`, or several joined by '+' (`rule_parts`).
        seed: int `[2]` (one example) or `[B, 2]` (a batch); needed by s (without
            `task`), r1r and rrnd.
        shape: `(H, W)`; taken from `semseg` when not given.
        semseg: the semseg label, `[H, W]` or `[B, H, W]`; needed by r2 / r3.
        task: the task of rule s; None draws one per image.

    Returns:
        int32 `[H, W]` or `[B, H, W]`.
    """
    parts = rule_parts(rule)
    if len(parts) > 1:
        return _mixed_palette(parts, seed, shape, semseg, task)
    if rule in SEMANTIC_RULES:
        if semseg is None:
            raise ValueError(f"Rule {rule!r} needs the semseg label. Received semseg=None")
        return semantic_palette(semseg, rule)
    if seed is None and not (rule == "s" and task is not None):
        raise ValueError(f"Rule {rule!r} needs a seed. Received seed=None")
    if shape is None:
        if semseg is None:
            raise ValueError("Pass `shape` or `semseg` to give the palette its size")
        shape = tf.shape(semseg)[-2:]
    if rule == "s" and task is not None:
        single_task_palette(None, [1], task)  # validates `task`
    build = {
        "s": lambda s: single_task_palette(s, shape, task),
        "r1r": lambda s: mosaic_palette(s, shape),
        "rrnd": lambda s: random_pixel_palette(s, shape),
    }[rule]
    if seed is None:
        return build(None)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank == 1:
        return build(seed)
    return tf.map_fn(build, seed, fn_output_signature=tf.TensorSpec(None, tf.int32))

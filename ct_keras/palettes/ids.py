"""The one check that an array holds task ids (tasks by name or id: `ct_keras.tasks.task_id`)."""

import numpy as np

from ct_keras.tasks import NUM_TASKS, TASK_NAMES

TASK_LIST = ", ".join(f"{k} {name}" for k, name in enumerate(TASK_NAMES))


def check_task_ids(palette, name="palette", num_tasks=NUM_TASKS):
    """`palette` as int32 after checking that it holds integer ids in [0, num_tasks)."""
    palette = np.asarray(palette)
    if palette.dtype.kind not in "iuf":
        raise ValueError(f"`{name}` must hold integer task ids. Received dtype {palette.dtype}")
    if palette.dtype.kind == "f" and not np.all(palette == np.round(palette)):
        raise ValueError(f"`{name}` must hold integer task ids. Received fractional values")
    if palette.size:
        low, high = palette.min(), palette.max()
        if low < 0 or high >= num_tasks:
            bad = sorted({int(v) for v in np.unique(palette) if v < 0 or v >= num_tasks})[:5]
            where = np.argwhere((palette < 0) | (palette >= num_tasks))[0]
            at = f" (first at row {where[0]}, column {where[1]})" if len(where) == 2 else ""
            raise ValueError(
                f"`{name}` must hold task ids in [0, {num_tasks}) "
                f"({', '.join(f'{k} {n}' for k, n in enumerate(TASK_NAMES[:num_tasks]))}). "
                f"Received ids {bad}{at}"
            )
    return palette.astype(np.int32)

"""Human parts from PASCAL-Part's `anno` struct (`human_parts/<id>.mat` of ASTMT's PASCAL_MT)."""

import numpy as np

from ct_keras.data.errors import BadSampleError
from ct_keras.data.file_io import load_mat
from ct_keras.tasks import PART_CLASSES

# VOC class index of 'person' in PASCAL-Part's `class_ind`.
PERSON_CLASS_IND = 15

# PASCAL-Part's person part names grouped into the six parts of ASTMT (its
# `HUMAN_PART[6]` table, also the reference's `metadata.HUMAN_PART`): the ids are
# indices into `ct_keras.tasks.PART_CLASSES`.
PART_GROUPS = {
    "head": ("head", "hair", "nose", "mouth", "lear", "rear", "leye", "reye", "lebrow", "rebrow"),
    "torso": ("torso", "neck"),
    "upper_arms": ("luarm", "ruarm"),
    "lower_arms": ("llarm", "rlarm", "lhand", "rhand"),
    "upper_legs": ("luleg", "ruleg"),
    "lower_legs": ("llleg", "rlleg", "lfoot", "rfoot"),
}
PART_NAME_TO_ID = {
    name: PART_CLASSES.index(group) for group, names in PART_GROUPS.items() for name in names
}


def _field(struct, name, path):
    if struct.dtype.names is None or name not in struct.dtype.names:
        raise BadSampleError(
            path, f"PASCAL-Part struct must have a field `{name}`. Received {struct.dtype.names}"
        )
    return struct[name]


def _scalar(value):
    return np.asarray(value).reshape(-1)[0]


def parts_from_mat(path, height, width):
    """`uint8 [H, W]` part ids (0 background, 1..6 parts); all 255 when no person has parts.

    Only objects of class 'person' with a non-empty part list count, as in ASTMT:
    PASCAL-Part annotates parts of other classes too (wheels of cars, ...).
    """
    anno = load_mat(path, "anno")
    objects = _field(anno.reshape(-1)[0], "objects", path) if anno.size else np.zeros((0,))
    objects = np.asarray(objects).reshape(-1)
    target = None
    for obj in objects:
        if int(_scalar(_field(obj, "class_ind", path))) != PERSON_CLASS_IND:
            continue
        parts = np.asarray(_field(obj, "parts", path)).reshape(-1)
        if parts.size == 0:
            continue
        if target is None:
            target = np.zeros((height, width), np.uint8)
        for part in parts:
            name = str(_scalar(_field(part, "part_name", path)))
            if name not in PART_NAME_TO_ID:
                raise BadSampleError(path, f"Unknown person part name {name!r}")
            mask = np.asarray(_field(part, "mask", path)).astype(bool)
            if mask.shape != (height, width):
                raise BadSampleError(
                    path,
                    f"Part mask must match the image size {(height, width)}. "
                    f"Received shape {mask.shape}",
                )
            target[mask] = PART_NAME_TO_ID[name]
    if target is None:
        return np.full((height, width), 255, np.uint8)
    return target

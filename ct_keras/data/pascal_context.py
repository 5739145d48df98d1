"""PASCAL-Context facts used by PASCAL-MT: the `LabelMap`, normals validity, VOC → Context ids."""

import json
import os

import numpy as np

from ct_keras.data.errors import BadSampleError
from ct_keras.data.file_io import load_mat

# The distilled normals come from a network trained on NYUD, so ASTMT (and the
# reference after it) trust them only on the PASCAL-Context classes whose names also
# appear among the NYUD classes ('unknown' excluded), plus 'tvmonitor'. These are
# the Context ids of that intersection, computed from the `nyu_classes.json` and
# `context_classes.json` that ship with ASTMT / MTI-Net (`db_info/`) and with the
# reference's PASCAL_MT.zip (`json/`): 170 classes, e.g. 72 chair, 284 person,
# 397 table, 427 tvmonitor, 440 wall, 158 floor.
NORMALS_VALID_CONTEXT_IDS = (
    3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38, 39, 41, 43,
    46, 49, 50, 51, 53, 55, 56, 59, 61, 62, 65, 66, 68, 69, 72, 73, 78, 83, 84, 85, 87,
    88, 95, 96, 101, 104, 105, 107, 111, 113, 115, 122, 124, 135, 141, 142, 143, 146,
    150, 154, 157, 158, 159, 165, 172, 174, 181, 183, 184, 191, 193, 195, 197, 199, 202,
    213, 215, 216, 219, 220, 223, 225, 228, 230, 232, 233, 238, 239, 242, 243, 246, 250,
    251, 252, 255, 260, 261, 263, 269, 272, 273, 275, 281, 283, 284, 285, 286, 287, 288,
    290, 291, 292, 293, 295, 304, 307, 309, 310, 314, 315, 319, 323, 329, 330, 331, 336,
    342, 345, 349, 350, 351, 352, 355, 357, 368, 370, 371, 374, 379, 380, 383, 384, 397,
    401, 403, 405, 407, 408, 411, 412, 413, 414, 417, 419, 421, 423, 427, 429, 430, 432,
    440, 441, 442, 443, 444, 446, 454, 457,
)

# Context id of each VOC class, in VOC order (ASTMT's `CONTEXT_CATEGORY_LABELS`);
# Context calls 'diningtable' 'table'. 0 is Context's unlabelled.
VOC_TO_CONTEXT = (
    0, 2, 23, 25, 31, 34, 45, 59, 65, 72, 98, 397, 113, 207, 258, 284, 308, 347, 368, 416, 427,
)


def read_label_map(path):
    """The `LabelMap` of `pascal-context/trainval/<id>.mat` as `int32 [H, W]`."""
    label_map = load_mat(path, "LabelMap")
    if label_map.ndim != 2:
        raise BadSampleError(path, f"`LabelMap` must be 2-D. Received shape {label_map.shape}")
    return label_map.astype(np.int32)


def normals_valid_ids(data_dir):
    """The Context ids where distilled normals count: from `json/` when the data set has it."""
    nyu_path = os.path.join(data_dir, "json", "nyu_classes.json")
    context_path = os.path.join(data_dir, "json", "context_classes.json")
    if not (os.path.isfile(nyu_path) and os.path.isfile(context_path)):
        return np.array(NORMALS_VALID_CONTEXT_IDS, np.int32)
    try:
        with open(nyu_path) as f:
            nyu = json.load(f)
        with open(context_path) as f:
            context = json.load(f)
        ids = [context[name] for name in nyu if name in context and name != "unknown"]
        ids.append(context["tvmonitor"])
    except (ValueError, KeyError, TypeError) as e:
        raise BadSampleError(context_path, f"Cannot read the class lists ({e!r})") from None
    return np.array(sorted(set(ids)), np.int32)


def normals_validity(label_map, valid_ids):
    """`uint8 {0, 1}`: 1 where the Context class is one the distilled normals hold for."""
    return np.isin(label_map, valid_ids).astype(np.uint8)
